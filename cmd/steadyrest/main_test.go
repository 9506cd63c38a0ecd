package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestFlagsFromEnvironmentAndCommandLine(t *testing.T) {
	t.Setenv("STEADYREST_REMOTE", "env:path")
	t.Setenv("STEADYREST_APPEND_ONLY", "true")
	t.Setenv("STEADYREST_SETTLE_WINDOW", "3m")
	t.Setenv("STEADYREST_LISTEN", "127.0.0.1:9")
	cfg, err := parseFlags([]string{"--listen", "unix:/tmp/x.sock"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.remote != "env:path" || !cfg.appendOnly || cfg.settleWindow != 3*time.Minute {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if cfg.listen != "unix:/tmp/x.sock" {
		t.Errorf("command line should win over the environment: listen = %q", cfg.listen)
	}

	t.Setenv("STEADYREST_MAX_SIZE", "lots")
	if _, err := parseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "STEADYREST_MAX_SIZE") {
		t.Errorf("a bad environment value should name the variable, err = %v", err)
	}
}

func TestFlagsRejectBadCombinations(t *testing.T) {
	for _, args := range [][]string{
		{"--tls-cert", "c.pem"},
		{"--log-format", "xml"},
		{"stray"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestRefusesOpenListenerWithoutAuth(t *testing.T) {
	var stderr bytes.Buffer
	code := realMain([]string{"--remote", t.TempDir(), "--state-dir", t.TempDir(), "--listen", "0.0.0.0:0"}, io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "without authentication") {
		t.Fatalf("exit %d, log:\n%s", code, stderr.String())
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:0": true, "[::1]:0": true, "0.0.0.0:0": false} {
		t.Run(addr, func(t *testing.T) {
			ln, err := net.Listen("tcp", addr)
			if err != nil && addr == "[::1]:0" {
				t.Skipf("no IPv6 loopback on this machine: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if got := isLoopback(ln.Addr()); got != want {
				t.Errorf("isLoopback(%s) = %v", ln.Addr(), got)
			}
		})
	}
}

// --spool-bytes: 1 GiB unless given, a size with a suffix, 0 for off.
func TestSpoolBytesFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int64
	}{
		{nil, 1 << 30},
		{[]string{"--spool-bytes", "256M"}, 256 << 20},
		{[]string{"--spool-bytes", "0"}, 0},
	} {
		cfg, err := parseFlags(c.args, io.Discard)
		if err != nil || cfg.spoolBytes != c.want {
			t.Errorf("parseFlags(%q): spool %d, %v; want %d", c.args, cfg.spoolBytes, err, c.want)
		}
	}
	if _, err := parseFlags([]string{"--spool-bytes", "-1"}, io.Discard); err == nil {
		t.Error("a negative --spool-bytes was accepted")
	}
}
