package consistency

import (
	"bytes"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// emuCARE finds the emulator's CA file in its start-up output.
var emuCARE = regexp.MustCompile(`(?m)^CA file: (\S+)$`)

// emulator runs the pCloud emulator as its own process, so its lag state
// survives a SIGKILL of steadyrest. It returns the rclone.conf path (remote
// "pcloud") and the CA file.
func emulator(t *testing.T, listLag time.Duration) (conf, ca string) {
	t.Helper()
	conf = filepath.Join(t.TempDir(), "rclone.conf")
	emu := e2e.StartServer(t, e2e.PcloudEmulatorSpec(emulatorBin, conf, "pcloud",
		"-list-lag", listLag.String(), "-fresh-delete-fails"))
	m := emuCARE.FindStringSubmatch(emu.Log())
	if m == nil {
		t.Fatalf("no CA file line in the emulator's output:\n%s", emu.Log())
	}
	t.Logf("pCloud emulator at %s (list lag %v, fresh deletes fail), CA %s", emu.Addr, listLag, m[1])
	return conf, m[1]
}

// steadyrestOnPcloud starts steadyrest on the emulator, with state in
// stateDir, and returns it and its base URL.
func steadyrestOnPcloud(t *testing.T, conf, ca, stateDir string) (*e2e.Server, string) {
	t.Helper()
	spec := e2e.SteadyrestSpec(steadyrestBin, "pcloud:steadyrest", stateDir, "--rclone-config", conf)
	spec.Env = []string{"SSL_CERT_FILE=" + ca}
	srv := e2e.StartServer(t, spec)
	return srv, "http://" + srv.Addr
}

// TestRestartInsideSettleWindow: SIGKILL steadyrest right after deletes
// and creates and start it again with the same --state-dir while the
// remote (the pCloud emulator, in its own process, so its lag survives)
// still lags: deleted locks do not come back, the created one is readable
// and listed.
func TestRestartInsideSettleWindow(t *testing.T) {
	const lag = 4 * time.Second
	conf, ca := emulator(t, lag)
	state := t.TempDir()

	srv, base := steadyrestOnPcloud(t, conf, ca, state)
	r := rest{t: t, base: base + "/repo", c: &http.Client{Timeout: 30 * time.Second}}
	r.must(http.MethodPost, "/?create=true", nil, http.StatusOK)

	oldName, oldData := lockBlob("old lock, listed by the remote when deleted")
	r.must(http.MethodPost, "/locks/"+oldName, oldData, http.StatusOK)
	// Let the remote list it and stop calling it fresh: its delete then
	// succeeds below, and the remote keeps listing a ghost of it.
	time.Sleep(lag + time.Second)
	freshName, freshData := lockBlob("fresh lock, the remote refuses its delete")
	newName, newData := lockBlob("new lock, written just before the kill")
	r.must(http.MethodPost, "/locks/"+freshName, freshData, http.StatusOK)
	r.must(http.MethodDelete, "/locks/"+oldName, nil, http.StatusOK)
	r.must(http.MethodDelete, "/locks/"+freshName, nil, http.StatusOK)
	r.must(http.MethodPost, "/locks/"+newName, newData, http.StatusOK)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	srv2, base2 := steadyrestOnPcloud(t, conf, ca, state)
	r.base = base2 + "/repo"
	t.Logf("restarted %v after the kill", time.Since(killed).Round(time.Millisecond))
	if time.Since(killed) > lag {
		t.Fatalf("restart took %v, longer than the remote's lag %v: the test would prove nothing", time.Since(killed), lag)
	}
	// Phase 1, inside the remote's lag: HEAD and list (answered from the
	// journal-backed overlay). Phase 2: GET of the created lock (its bytes
	// were only in memory before the kill, so steadyrest reads them from
	// the remote once it has them), then rounds until well after the lag.
	round := func(withGet bool) {
		t.Helper()
		at := time.Since(killed).Seconds()
		for _, gone := range []string{oldName, freshName} {
			if code, b, err := r.do(http.MethodHead, "/locks/"+gone, nil); err != nil || code != http.StatusNotFound {
				t.Fatalf("%.1fs after the kill: HEAD deleted lock %s: %d (%v) %s, want 404", at, gone[:10], code, err, b)
			}
		}
		if code, b, err := r.do(http.MethodHead, "/locks/"+newName, nil); err != nil || code != http.StatusOK {
			t.Fatalf("%.1fs after the kill: HEAD created lock: %d (%v) %s, want 200", at, code, err, b)
		}
		names, err := r.listNames("locks")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := names[oldName]; ok {
			t.Fatalf("%.1fs after the kill: deleted (remotely listed) lock is listed again: %v", at, names)
		}
		if _, ok := names[freshName]; ok {
			t.Fatalf("%.1fs after the kill: deleted (fresh) lock is listed again: %v", at, names)
		}
		if size, ok := names[newName]; !ok || size != int64(len(newData)) {
			t.Fatalf("%.1fs after the kill: created lock not listed with size %d: %v", at, len(newData), names)
		}
		if withGet {
			start := time.Now()
			code, got, err := r.do(http.MethodGet, "/locks/"+newName, nil)
			if err != nil || code != http.StatusOK || !bytes.Equal(got, newData) {
				t.Fatalf("%.1fs after the kill: GET created lock: %d (%v) %q, want 200 %q", at, code, err, got, newData)
			}
			if d := time.Since(start); d > time.Second {
				t.Logf("GET of the created lock %.1fs after the kill took %v (its bytes are read back from the remote once the remote has them)", at, d.Round(time.Millisecond))
			}
		}
	}
	inside := 0
	for time.Since(killed) < lag-time.Second {
		round(false)
		inside++
		time.Sleep(100 * time.Millisecond)
	}
	after := 0
	for time.Since(killed) < lag+2*time.Second {
		round(true)
		after++
		time.Sleep(200 * time.Millisecond)
	}
	if inside < 3 {
		t.Fatalf("only %d rounds ran inside the remote's lag window; the machine is too slow for this test to mean anything", inside)
	}
	t.Logf("after SIGKILL and restart: %d rounds of HEAD/list inside the lag window, %d rounds of HEAD/GET/list after it: deleted locks stayed gone, the created lock stayed readable and listed", inside, after)
	_ = srv2 // stopped at cleanup
}

// TestRestartAfterResticBackup: restic backs up through steadyrest on the
// emulator; SIGKILL right after it exits (its lock delete was refused by
// the remote as too fresh, so only the overlay hides it), restart with the
// same state: restic sees no lock, the snapshot, and check passes.
func TestRestartAfterResticBackup(t *testing.T) {
	restic := e2e.DefaultRestic(t)
	const lag = 4 * time.Second
	conf, ca := emulator(t, lag)
	state := t.TempDir()
	srv, base := steadyrestOnPcloud(t, conf, ca, state)
	url := "rest:" + base + "/repo/"
	r := e2e.NewRestic(t, restic, url)
	src := t.TempDir()
	if err := GenerateFiles(src, 42, 5, 8<<10); err != nil {
		t.Fatal(err)
	}
	r.MustRun("init")
	r.MustRun("backup", "--json", "--host", "restart", src)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	_, base2 := steadyrestOnPcloud(t, conf, ca, state)
	r.Repo = "rest:" + base2 + "/repo/"
	// The remote refused the delete of the backup's lock (too fresh), so
	// only the journaled tombstone and its reaper keep it from coming back:
	// without them it would stay on the remote for good.
	locks := r.MustRun("list", "locks", "--no-lock")
	if s := strings.TrimSpace(locks.Stdout); s != "" {
		t.Fatalf("%.1fs after restart, restic lists locks that were deleted before the kill:\n%s", time.Since(killed).Seconds(), s)
	}
	t.Logf("%.1fs after SIGKILL+restart: restic list locks is empty", time.Since(killed).Seconds())
	snaps := r.MustRun("snapshots", "--json", "--host", "restart")
	if n := strings.Count(snaps.Stdout, `"short_id"`); n != 1 {
		t.Fatalf("want 1 snapshot after restart, got %d:\n%s", n, snaps.Output)
	}
	// unlock then kill again at once: unlock removes nothing now, but its
	// own lock-free run must not resurrect anything either.
	r.MustRun("unlock")
	chk := r.MustRun("check")
	if !strings.Contains(chk.Output, "no errors were found") {
		t.Fatalf("check after restart:\n%s", chk.Output)
	}
	if time.Since(killed) < lag {
		t.Logf("list, snapshots and check all ran inside the remote's lag window (%v after the kill)", time.Since(killed).Round(time.Millisecond))
	}
}
