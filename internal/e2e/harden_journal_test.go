package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 21 item 11, a journal with garbage pages: the binary refuses to
// start, exits non-zero, and says which file and what to do; no Go panic.
func TestHardenDamagedJournalRefused(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	srv := lockedServer(t, root, state, []byte("a lock the journal holds"))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(state, "overlay.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	for i := 2 * page; i < len(b); i++ {
		b[i] = byte(i*7 + 13) // valid meta pages, garbage everywhere else
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := SteadyrestSpec(serverBin, root, state)
	cmd := exec.CommandContext(ctx, serverBin, spec.Args...)
	cmd.Env = CleanEnv()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("steadyrest on a damaged journal: %v, want a non-zero exit\n%s", err, out)
	}
	if exit.ExitCode() == 2 && strings.Contains(string(out), "goroutine ") {
		t.Fatalf("steadyrest panicked on a damaged journal:\n%s", out)
	}
	for _, want := range []string{path, "damaged", "move it aside"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "panic") {
		t.Errorf("output mentions a panic:\n%s", out)
	}
}

// Issue 21 item 11, a journal emptied after a crash: the next start says
// at ERROR that its records are lost, instead of starting silently empty.
func TestHardenEmptiedJournalReported(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	srv := lockedServer(t, root, state, []byte("acknowledged, not uploaded"))
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(state, "overlay.db"), 0); err != nil {
		t.Fatal(err)
	}
	srv2 := StartServer(t, SteadyrestSpec(serverBin, root, state))
	if !strings.Contains(srv2.Log(), "level=ERROR") || !strings.Contains(srv2.Log(), "records it held are lost") {
		t.Errorf("the restart on an emptied journal said nothing of the loss:\n%s", srv2.Log())
	}
}
