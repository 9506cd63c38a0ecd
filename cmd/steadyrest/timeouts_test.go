package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawStatus writes head (request line and headers, without the blank
// line) on a new connection and returns the answer's status.
func rawStatus(t *testing.T, addr, head string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The server may answer 431 before it has read everything; write
	// beside the read so that neither side blocks.
	go func() { _, _ = io.WriteString(conn, head+"\r\nConnection: close\r\n\r\n") }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// The binary's header limit (64 KiB) is what stands between a client and
// unbounded header buffering; net/http answers 431 above it.
func TestHeaderSizeLimit(t *testing.T) {
	dir := t.TempDir()
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--no-request-log")
	for _, c := range []struct {
		name string
		head string
		want int
	}{
		{"60 KiB header", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + strings.Repeat("p", 60<<10), 200},
		{"80 KiB header", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + strings.Repeat("p", 80<<10), 431},
		{"80 KiB of small headers", "GET /healthz HTTP/1.1\r\nHost: t" + strings.Repeat("\r\nX-A: "+strings.Repeat("a", 34), 2<<10), 431},
		{"80 KiB request line", "GET /r/data/" + strings.Repeat("a", 80<<10) + " HTTP/1.1\r\nHost: t", 431},
	} {
		if got := rawStatus(t, addr, c.head); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
}

// A client that trickles its headers (slowloris) is cut off when
// --header-timeout runs out, however steadily it trickles, and does not
// hold up anybody else meanwhile.
func TestSlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	const headerTimeout = 3 * time.Second
	dir := t.TempDir()
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--no-request-log", "--header-timeout", headerTimeout.String())
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: t\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan time.Duration, 1)
	go func() {
		// Returns when the server drops the connection.
		_, _ = io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()

	// Another client is served while the trickler holds its connection.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("a second client is not served: %v", err)
	}
	resp.Body.Close()

	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case took := <-closed:
			if took < headerTimeout-500*time.Millisecond {
				t.Fatalf("cut off after %s, before the %s header timeout", took, headerTimeout)
			}
			return
		case <-tick.C:
			if time.Since(start) > headerTimeout+5*time.Second {
				t.Fatalf("a client trickling headers is still connected after %s", time.Since(start))
			}
			// A header line now and then: progress that must not count.
			_, _ = fmt.Fprintf(conn, "X-%d: %d\r\n", i, i)
		}
	}
}

// A client that stops sending in the middle of an upload is cut off after
// --body-timeout, and nothing is stored.
func TestStalledUploadIsCutOff(t *testing.T) {
	dir := t.TempDir()
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--no-request-log", "--body-timeout", "500ms")
	name := strings.Repeat("ab", 32)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	fmt.Fprintf(conn, "POST /r/data/%s HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n%s", name, strings.Repeat("x", 100))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	res.Body.Close()
	if took := time.Since(start); res.StatusCode != http.StatusBadRequest || took > 5*time.Second {
		t.Fatalf("stalled upload: %s after %s, want 400 soon after the body timeout", res.Status, took)
	}
	if rawStatus(t, addr, "HEAD /r/data/"+name+" HTTP/1.1\r\nHost: t") != http.StatusNotFound {
		t.Fatal("the stalled upload was stored")
	}
}
