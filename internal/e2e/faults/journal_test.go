package faults

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// runToExit runs steadyrest expecting it to refuse to start: it must exit
// non-zero within a bound, and its output is returned.
func runToExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, steadyrestBin, args...)
	cmd.Env = e2e.CleanEnv()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("steadyrest still running after 20s; want a refusal to start\n%s", out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("steadyrest exited with %v; want a non-zero exit\n%s", err, out)
	}
	return ee.ExitCode(), string(out)
}

func TestDamagedJournalRefusesStart(t *testing.T) {
	// A short file and one longer than bbolt's pages fail different checks.
	for _, n := range []int{300, 3000} {
		state := t.TempDir()
		garbage := []byte(strings.Repeat("this is not a bbolt file \x00\xff", n))
		if err := os.WriteFile(filepath.Join(state, "overlay.db"), garbage, 0o600); err != nil {
			t.Fatal(err)
		}
		damagedJournal(t, state)
	}
}

func damagedJournal(t *testing.T, state string) {
	code, out := runToExit(t, "--remote", testutil.LagSpec(t.TempDir()), "--listen", "127.0.0.1:0", "--state-dir", state, "--no-auth")
	if code == 0 || !strings.Contains(out, "journal") || !strings.Contains(out, "overlay.db") {
		t.Fatalf("exit %d; want non-zero and a message naming the journal file:\n%s", code, out)
	}
	if strings.Contains(out, "steadyrest serving") {
		t.Fatalf("served over a damaged journal:\n%s", out)
	}
	t.Logf("damaged journal: exit %d: %s", code, lastLine(out))
}

func TestLockedJournalRefusesStart(t *testing.T) {
	state := t.TempDir()
	remote := testutil.LagSpec(t.TempDir())
	first := startSteadyrest(t, remote, state, "127.0.0.1:0", nil)
	start := time.Now()
	code, out := runToExit(t, "--remote", remote, "--listen", "127.0.0.1:0", "--state-dir", state, "--no-auth")
	if code == 0 || !strings.Contains(out, "locked") || !strings.Contains(out, "another steadyrest") {
		t.Fatalf("exit %d; want non-zero and a message that another steadyrest holds the journal:\n%s", code, out)
	}
	t.Logf("locked journal: exit %d after %v: %s", code, time.Since(start).Round(time.Millisecond), lastLine(out))
	mustStop(t, first)
}
