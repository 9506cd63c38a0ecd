package main

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A connection that was dialled but never sent a request (Go's transport
// parks such dials in its pool under load) does not hold the shutdown:
// http.Server.Shutdown alone waits five seconds for it, which a service
// manager or a test harness takes for a hang. The server closes it and
// stops at once.
func TestShutdownClosesConnectionsWithoutRequest(t *testing.T) {
	dir := t.TempDir()
	c := spawn(t, nil, nil, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--heartbeat-interval", "0", "--no-request-log")
	addr := c.waitServing(t)
	var conns []net.Conn
	for range 3 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	time.Sleep(200 * time.Millisecond) // let the server accept them (StateNew)
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0\n%s", code, c.logs.String())
	}
	// Not a speed claim: http.Server's own rule holds such a connection
	// for five whole seconds, so anything under that is the close.
	if took := time.Since(start); took >= 4*time.Second {
		t.Errorf("shutdown took %s with 3 connections that sent nothing: they held it", took)
	}
	for _, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := conn.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection still open after the stop (read %d bytes)", n)
		}
	}
}
