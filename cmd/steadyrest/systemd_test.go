package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Socket activation: steadyrest serves the socket systemd passed (here the
// test, as descriptor 3 with LISTEN_FDS=1), tells $NOTIFY_SOCKET READY=1
// once it serves and STOPPING=1 when told to stop.
func TestSystemdSocketActivationAndNotify(t *testing.T) {
	dir := t.TempDir()
	notifyPath := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, logs, stop := startSubprocess(t, []string{"LISTEN_FDS=1", "STEADYREST_TEST_LISTEN_PID_SELF=1", "NOTIFY_SOCKET=" + notifyPath},
		[]*os.File{f}, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--rclone-config", filepath.Join(dir, "none.conf"), "--listen", "systemd:", "--no-request-log")
	// Only the child serves the socket from here on.
	f.Close()
	ln.Close()

	next := func() string {
		t.Helper()
		buf := make([]byte, 256)
		_ = notify.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, logs())
		}
		return string(buf[:n])
	}
	if got := next(); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("the passed socket is not served: %v\n%s", err, logs())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
	go stop()
	if got := next(); got != "STOPPING=1" {
		t.Fatalf("notification on stop %q, want STOPPING=1", got)
	}
}
