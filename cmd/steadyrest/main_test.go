package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

func TestRoutesKeepRawPathsForTheAPI(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.EscapedPath()) })
	}
	rt := &routes{healthz: named("healthz"), readyz: named("readyz"), metrics: named("metrics"), api: named("api")}
	srv := httptest.NewServer(rt)
	defer srv.Close()
	for path, want := range map[string]string{
		"/healthz":        "healthz /healthz",
		"/metrics":        "metrics /metrics",
		"/metrics/config": "api /metrics/config",
		"/a/../config":    "api /a/../config", // not cleaned or redirected: the API refuses it
		"/a//config":      "api /a//config",
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		req.URL.Opaque = "//" + strings.TrimPrefix(srv.URL, "http://") + path // keep the path as written
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("GET %s: %q, want %q", path, body, want)
		}
	}
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}
}
