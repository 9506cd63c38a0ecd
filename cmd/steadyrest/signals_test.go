package main

import (
	"crypto/sha1"
	"crypto/tls"
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

// SIGHUP reloads the TLS certificate even when the new files look like
// the old ones to the change check (same sizes, same times): a renewal
// that a tool copies in with its times kept.
func TestSighupReloadsTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	c := spawn(t, nil, nil, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0",
		"--tls-cert", certFile, "--tls-key", keyFile, "--no-request-log")
	addr := c.waitServing(t)
	first := servedSerial(t, addr)

	old := map[string]os.FileInfo{}
	for _, p := range []string{certFile, keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		old[p] = fi
	}
	// A new pair of the same sizes (serials and signatures vary in length).
	next := t.TempDir()
	for i := 0; ; i++ {
		nc, nk, _ := selfSigned(t, next)
		ci, _ := os.Stat(nc)
		ki, _ := os.Stat(nk)
		if ci.Size() == old[certFile].Size() && ki.Size() == old[keyFile].Size() {
			for from, to := range map[string]string{nc: certFile, nk: keyFile} {
				if err := os.Rename(from, to); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(to, old[to].ModTime(), old[to].ModTime()); err != nil {
					t.Fatal(err)
				}
			}
			break
		}
		if i > 200 {
			t.Skip("no certificate of the same size generated")
		}
	}
	time.Sleep(1100 * time.Millisecond) // past the change check's interval, so that it looks (and sees nothing)
	if got := servedSerial(t, addr); got != first {
		t.Fatalf("the change check saw the same-looking files: the test cannot tell SIGHUP's reload apart")
	}
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "TLS certificate")
	if got := servedSerial(t, addr); got == first {
		t.Errorf("after SIGHUP the old certificate (serial %s) is still served", first)
	}
}

// servedSerial is the serial number of the certificate addr serves.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only the serial is read
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}
