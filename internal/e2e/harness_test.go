package e2e

import (
	"strings"
	"testing"
	"time"
)

func TestSteadyrestAddr(t *testing.T) {
	cases := []struct {
		line, want string
		ok         bool
	}{
		{`time=2026-01-01T00:00:00Z level=INFO msg="steadyrest serving" addr=127.0.0.1:41234 remote=/tmp/x`, "127.0.0.1:41234", true},
		{`level=INFO msg="steadyrest serving" remote=":memory:" addr="unix:/tmp/a b.sock"`, "unix:/tmp/a b.sock", true},
		{`{"time":"x","level":"INFO","msg":"steadyrest serving","addr":"127.0.0.1:8000"}`, "127.0.0.1:8000", true},
		{`level=INFO msg="listening" addr=127.0.0.1:1`, "", false},
		{`level=INFO msg="steadyrest serving" remote_addr=1.2.3.4:5`, "", false},
	}
	for _, c := range cases {
		got, ok := SteadyrestAddr(c.line)
		if got != c.want || ok != c.ok {
			t.Errorf("SteadyrestAddr(%q) = %q, %v; want %q, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestRcloneAddr(t *testing.T) {
	got, ok := RcloneAddr(`2026/11/25 12:54:49 NOTICE: Local file system at /tmp/r: Serving restic REST API on [http://127.0.0.1:37397/]`)
	if !ok || got != "127.0.0.1:37397" {
		t.Fatalf("got %q, %v", got, ok)
	}
	if _, ok := RcloneAddr("NOTICE: Config file not found"); ok {
		t.Fatal("matched a line without an address")
	}
}

// fakeServer is a shell process that announces an address like steadyrest
// and reacts to SIGTERM as trap says; it tests the harness, not a server.
func fakeServer(trap string) ServerSpec {
	script := trap + `; echo 'level=INFO msg="steadyrest serving" addr=127.0.0.1:9'; echo "second line"; ` +
		`while :; do sleep 0.05; done`
	return ServerSpec{
		Name: "fake", Bin: "/bin/sh", Args: []string{"-c", script},
		AddrFromLog: SteadyrestAddr, StopTimeout: time.Second,
	}
}

func TestHarnessStopsCleanly(t *testing.T) {
	s := StartServer(t, fakeServer(`trap 'exit 0' TERM`))
	if s.Addr != "127.0.0.1:9" {
		t.Fatalf("addr %q", s.Addr)
	}
	// The shell may not have run its second echo yet when the address
	// line arrives; a TERM before it would (rightly) lose that line.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.Log(), "second line") {
		if time.Now().After(deadline) {
			t.Fatalf("log not captured: %q", s.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestHarnessReportsBadExitCode(t *testing.T) {
	s := StartServer(t, fakeServer(`trap 'exit 3' TERM`))
	err := s.Stop()
	if err == nil || !strings.Contains(err.Error(), "code 3") {
		t.Fatalf("stop: got %v, want an exit code 3 error", err)
	}
}

func TestHarnessKillsHungServer(t *testing.T) {
	s := StartServer(t, fakeServer(`trap '' TERM`))
	start := time.Now()
	err := s.Stop()
	if err == nil || !strings.Contains(err.Error(), "did not exit") {
		t.Fatalf("stop: got %v, want a timeout error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stop took %v", d)
	}
}

func TestHarnessKill(t *testing.T) {
	s := StartServer(t, fakeServer(`trap 'exit 0' TERM`))
	if _, err := s.ProcStatusKiB("VmRSS"); err != nil {
		t.Fatalf("pid %d: %v", s.Pid(), err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	// Ended once: a later Stop (and the cleanup) report the kill's result.
	if err := s.Stop(); err != nil {
		t.Fatalf("stop after kill: %v", err)
	}
}

func TestStartReportsEarlyExit(t *testing.T) {
	spec := fakeServer(`exit 7`)
	s, err := Start(spec)
	if err == nil {
		_ = s.Kill()
		t.Fatal("Start of a process that exits at once succeeded")
	}
	if !strings.Contains(err.Error(), "exited before announcing") {
		t.Fatalf("got %v, want an early-exit error", err)
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv("STEADYREST_APPEND_ONLY", "true")
	t.Setenv("RESTIC_PASSWORD", "x")
	t.Setenv("RCLONE_CONFIG", "x")
	t.Setenv("E2E_KEEP", "1")
	kept := false
	for _, kv := range CleanEnv() {
		for _, p := range []string{"STEADYREST_", "RESTIC_", "RCLONE_"} {
			if strings.HasPrefix(kv, p) {
				t.Errorf("CleanEnv kept %s", kv)
			}
		}
		kept = kept || kv == "E2E_KEEP=1"
	}
	if !kept {
		t.Error("CleanEnv dropped an unrelated variable")
	}
}
