package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// Repository health series, as a scrape shows them.
const (
	hLastSnapshot = "steadyrest_repository_last_snapshot_timestamp_seconds"
	hSnapshots    = "steadyrest_repository_snapshots"
	hLocks        = "steadyrest_repository_locks"
	hStaleLock    = "steadyrest_repository_oldest_stale_lock_age_seconds"
)

// healthClock moves the server's health clock (and only it) by writing
// the file named by STEADYREST_TEST_HEALTH_CLOCK_FILE: no test waits 30
// minutes for a lock to turn stale.
type healthClock string

func (c healthClock) set(t *testing.T, d time.Duration) {
	t.Helper()
	if err := os.WriteFile(string(c), []byte(d.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHealthStaleLockOfKilledRestic: a real restic 0.19 SIGKILLed mid-backup
// leaves its lock; steadyrest shows it held, then, once its health clock
// is 30 minutes on, stale on /status (with the unlock command) and in
// the metric the SteadyrestStaleLock alert reads. Two backups move the
// last-snapshot metric; a repository with no activity has no series.
func TestHealthStaleLockOfKilledRestic(t *testing.T) {
	if serverKind != "steadyrest" {
		t.Skip("steadyrest's repository health: not served by " + serverKind)
	}
	clock := healthClock(filepath.Join(t.TempDir(), "clock"))
	clock.set(t, 0)
	spec := SteadyrestSpec(serverBin, t.TempDir(), t.TempDir())
	spec.Env = append(spec.Env, "STEADYREST_TEST_HEALTH_CLOCK_FILE="+string(clock))
	srv := StartServer(t, spec)
	repo := map[string]string{"repo": "/r"}

	fams, text := scrape(t, srv.Addr)
	if strings.Contains(text, "steadyrest_repository_") {
		t.Fatalf("a server with no activity shows repository health:\n%s", grepLines(text, "steadyrest_repository_"))
	}

	r := NewRestic(t, DefaultRestic(t), srv.URL("r"))
	src := t.TempDir()
	GenerateTree(t, src, TreeOptions{Seed: 3, BigFile: 1 << 20, Dirs: 2, FilesPerDir: 5})
	r.MustRun("init")
	r.MustRunIn(src, "backup", "--host", "e2e", ".")
	fams, _ = scrape(t, srv.Addr)
	first := sum(fams, hLastSnapshot, repo)
	if first < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Fatalf("%s = %v after a backup, want about now", hLastSnapshot, first)
	}
	clock.set(t, time.Hour)
	ModifyTree(t, src, 4)
	r.MustRunIn(src, "backup", "--host", "e2e", ".")
	fams, _ = scrape(t, srv.Addr)
	if second := sum(fams, hLastSnapshot, repo); second < first+3600 {
		t.Fatalf("%s went from %v to %v over a second backup an hour on", hLastSnapshot, first, second)
	}
	if n := sum(fams, hSnapshots, repo); n != 2 {
		t.Fatalf("%s = %v after two backups, want 2", hSnapshots, n)
	}
	if n := sum(fams, hLocks, repo); n != 0 {
		t.Fatalf("%s = %v between commands, want 0", hLocks, n)
	}

	// A third backup, of a tree big enough to be caught mid-way, killed
	// once its lock is held and its first pack stored.
	GenerateTree(t, filepath.Join(src, "big"), TreeOptions{Seed: 5, BigFile: 96 << 20})
	packsBefore := sum(fams, "steadyrest_blob_written_total", map[string]string{"repo": "/r", "type": "data"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Bin, "-r", r.Repo, "backup", "--host", "e2e", ".")
	cmd.Dir = src
	cmd.Env = append(CleanEnv(), "RESTIC_PASSWORD="+r.Password, "RESTIC_CACHE_DIR="+r.CacheDir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	midway := testutil.Until(2*time.Minute, func() bool {
		f, _ := scrape(t, srv.Addr)
		return sum(f, hLocks, repo) == 1 &&
			sum(f, "steadyrest_blob_written_total", map[string]string{"repo": "/r", "type": "data"}) > packsBefore
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if !midway {
		t.Fatalf("the backup did not hold a lock and store a pack in 2 minutes (exit: %v)", err)
	}
	if cmd.ProcessState.Success() {
		t.Fatal("the backup finished before the kill")
	}

	fams, _ = scrape(t, srv.Addr)
	if sum(fams, hLocks, repo) != 1 || sum(fams, hStaleLock, repo) != 0 {
		t.Fatalf("right after the kill: %s = %v, %s = %v; want 1 lock, not stale yet",
			hLocks, sum(fams, hLocks, repo), hStaleLock, sum(fams, hStaleLock, repo))
	}
	_, page := get(t, srv, "/status")
	if strings.Contains(string(page), "stale lock") {
		t.Fatal("/status calls a fresh lock stale")
	}

	clock.set(t, time.Hour+30*time.Minute)
	fams, _ = scrape(t, srv.Addr)
	if age := sum(fams, hStaleLock, repo); age < 1800 {
		t.Fatalf("%s = %v 30 minutes after the kill, want >= 1800", hStaleLock, age)
	}
	_, page = get(t, srv, "/status")
	unlock := fmt.Sprintf("restic -r rest:http://%s/r/ unlock", srv.Addr)
	if !strings.Contains(string(page), `class="stale">stale lock since`) || !strings.Contains(string(page), unlock) {
		t.Fatalf("/status lacks the stale lock or %q:\n%s", unlock, page)
	}

	// The command the page gives clears it.
	r.MustRun("unlock")
	fams, _ = scrape(t, srv.Addr)
	if sum(fams, hLocks, repo) != 0 || sum(fams, hStaleLock, repo) != 0 {
		t.Fatalf("after restic unlock: %s = %v, %s = %v", hLocks, sum(fams, hLocks, repo), hStaleLock, sum(fams, hStaleLock, repo))
	}
}

// grepLines returns text's lines that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
