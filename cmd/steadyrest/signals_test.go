package main

import (
	"crypto/sha1"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// htpasswdFile writes users (name: password) as an htpasswd file.
func htpasswdFile(t *testing.T, path string, users ...string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i+1 < len(users); i += 2 {
		sum := sha1.Sum([]byte(users[i+1]))
		b.WriteString(users[i] + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the child's log holds want (the event, not a speed).
func waitLog(t *testing.T, c *child, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", want, c.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGHUP reloads the htpasswd file and leaves the server running, as
// rest-server's; SIGTERM stops it cleanly: exit 0, the shutdown line, the
// heartbeat removed from the remote.
func TestSighupReloadsAndSigtermStops(t *testing.T) {
	dir := t.TempDir()
	store, htp := filepath.Join(dir, "store"), filepath.Join(dir, "htpasswd")
	htpasswdFile(t, htp, "alice", "alicepw")
	c := spawn(t, nil, nil, "--remote", store, "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0",
		"--htpasswd-file", htp, "--heartbeat-interval", "1h", "--no-request-log")
	addr := c.waitServing(t)
	if got := do(t, nil, "POST", "http://"+addr+"/bob/?create=true", nil, "bob", "bobpw"); got != 401 {
		t.Fatalf("bob before he is added: %d, want 401", got)
	}
	htpasswdFile(t, htp, "alice", "alicepw", "bob", "bobpw")
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "reloaded")
	if got := do(t, nil, "POST", "http://"+addr+"/bob/?create=true", nil, "bob", "bobpw"); got != 200 {
		t.Fatalf("bob after SIGHUP: %d, want 200\n%s", got, c.logs.String())
	}
	instances := filepath.Join(store, ".steadyrest", "instances")
	if hb, _ := os.ReadDir(instances); len(hb) != 1 {
		t.Fatalf("heartbeats while serving: %v, want this instance's", hb)
	}

	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0\n%s", code, c.logs.String())
	}
	if !strings.Contains(c.logs.String(), "msg=stopped") {
		t.Errorf("no shutdown line:\n%s", c.logs.String())
	}
	if hb, _ := os.ReadDir(instances); len(hb) != 0 {
		t.Errorf("heartbeat left behind after SIGTERM: %v", hb)
	}
}
