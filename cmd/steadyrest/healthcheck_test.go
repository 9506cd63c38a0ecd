package main

import (
	"bytes"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `steadyrest healthcheck` finds the server from the same STEADYREST_*
// settings: its address, TLS and --baseurl.
func TestHealthcheckFollowsSettings(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--baseurl", "/sr", "--no-request-log")
	t.Setenv("STEADYREST_LISTEN", addr)
	t.Setenv("STEADYREST_TLS_CERT", certFile)
	t.Setenv("STEADYREST_TLS_KEY", keyFile)
	t.Setenv("STEADYREST_BASEURL", "/sr")
	var stderr bytes.Buffer
	if code := realMain([]string{"healthcheck"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("healthcheck with the server's settings: exit %d: %s", code, stderr.String())
	}
	// The same settings as flags, as the server was given them.
	for _, v := range []string{"STEADYREST_LISTEN", "STEADYREST_TLS_CERT", "STEADYREST_TLS_KEY", "STEADYREST_BASEURL"} {
		t.Setenv(v, "")
	}
	if code := realMain([]string{"healthcheck", "--listen", addr, "--tls-cert", certFile, "--tls-key", keyFile, "--baseurl", "/sr"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("healthcheck with the server's flags: exit %d: %s", code, stderr.String())
	}
	t.Setenv("STEADYREST_LISTEN", addr)
	t.Setenv("STEADYREST_TLS_CERT", certFile)
	t.Setenv("STEADYREST_TLS_KEY", keyFile)
	t.Setenv("STEADYREST_BASEURL", "/sr")
	// The same server asked the wrong way fails: the check can fail.
	t.Setenv("STEADYREST_BASEURL", "")
	if code := realMain([]string{"healthcheck"}, io.Discard, &stderr); code != 1 {
		t.Errorf("healthcheck without the base URL: exit %d, want 1", code)
	}
	t.Setenv("STEADYREST_BASEURL", "/sr")
	t.Setenv("STEADYREST_TLS_CERT", "")
	t.Setenv("STEADYREST_TLS_KEY", "")
	if code := realMain([]string{"healthcheck"}, io.Discard, &stderr); code != 1 {
		t.Errorf("plain HTTP to the TLS port: exit %d, want 1", code)
	}

	sock := filepath.Join(dir, "s.sock")
	t.Setenv("STEADYREST_BASEURL", "") // startRun reads the environment too
	startRun(t, "--remote", filepath.Join(dir, "store2"), "--state-dir", filepath.Join(dir, "state2"),
		"--listen", "unix:"+sock, "--no-request-log")
	t.Setenv("STEADYREST_LISTEN", "unix:"+sock)
	t.Setenv("STEADYREST_BASEURL", "")
	if code := realMain([]string{"healthcheck"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("healthcheck on a unix socket: exit %d: %s", code, stderr.String())
	}
}

func TestHealthURLReachesWildcardThroughLoopback(t *testing.T) {
	for listen, want := range map[string]string{
		"0.0.0.0:8000": "http://127.0.0.1:8000/healthz",
		":8000":        "http://127.0.0.1:8000/healthz",
		"[::]:8000":    "http://[::1]:8000/healthz",
		"10.1.2.3:80":  "http://10.1.2.3:80/healthz",
	} {
		cfg := &config{listens: []string{listen}}
		got, err := healthURL(cfg, &http.Client{})
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", listen, got, err, want)
		}
	}
}

// A config file the server's uid cannot read stops the start with what to
// do (root reads everything, so the error is built here, not provoked).
func TestUnreadableRcloneConfigSaysWhatToDo(t *testing.T) {
	err := unreadableConfig("/config/rclone.conf", &os.PathError{Op: "open", Path: "/config/rclone.conf", Err: iofs.ErrPermission})
	if err == nil || !strings.Contains(err.Error(), "chown") || !strings.Contains(err.Error(), "65532") {
		t.Errorf("error %v does not say what to do", err)
	}
	if unreadableConfig("/x", &os.PathError{Op: "open", Path: "/x", Err: iofs.ErrNotExist}) != nil {
		t.Error("a missing config is rclone's business, not an error here")
	}
}
