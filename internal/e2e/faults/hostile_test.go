package faults

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The hostile-client tests below speak HTTP on raw connections: the
// request target goes out exactly as written (Go's client would
// re-encode an invalid escape), and a test can stop after the headers.

// user is a login of the htpasswd file the hostile tests start
// steadyrest with.
type user struct{ name, pass string }

var (
	alice  = user{"alice", "alice-pw"}
	bob    = user{"bob", "bob-pw"}
	nobody = user{}
)

// writeHtpasswd writes an htpasswd file with users (SHA-1 entries, which
// check fast) and returns its path.
func writeHtpasswd(t *testing.T, users ...user) string {
	t.Helper()
	var b strings.Builder
	for _, u := range users {
		sum := sha1.Sum([]byte(u.pass))
		fmt.Fprintf(&b, "%s:{SHA}%s\n", u.name, base64.StdEncoding.EncodeToString(sum[:]))
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rawRequest is one request as it goes on the wire.
type rawRequest struct {
	method, target string
	as             user
	header         string // extra header lines, each ending in \r\n
	body           []byte
}

// send makes rq on a new connection and returns the answer's status and
// body.
func send(t *testing.T, addr string, rq rawRequest) (int, []byte) {
	t.Helper()
	status, b, err := exchange(addr, rq)
	if err != nil {
		t.Fatal(err)
	}
	return status, b
}

// exchange is send for any goroutine: it returns the failure.
func exchange(addr string, rq rawRequest) (int, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	hdr := "Connection: close\r\n"
	if rq.body != nil || rq.method == http.MethodPost {
		hdr += fmt.Sprintf("Content-Length: %d\r\n", len(rq.body))
	}
	go func() { _, _ = io.WriteString(conn, rq.head(hdr)+string(rq.body)) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: rq.method})
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", rq.method, rq.target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", rq.method, rq.target, err)
	}
	return res.StatusCode, b, nil
}

// head is the request line and headers, rq.header and extra included, up
// to the blank line.
func (rq rawRequest) head(extra string) string {
	auth := ""
	if rq.as != nobody {
		auth = "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(rq.as.name+":"+rq.as.pass)) + "\r\n"
	}
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: test\r\n%s%s%s\r\n", rq.method, rq.target, auth, rq.header, extra)
}

// mustSend is send that fails the test unless the answer is want.
func mustSend(t *testing.T, addr string, rq rawRequest, want int) []byte {
	t.Helper()
	status, b := send(t, addr, rq)
	if status != want {
		t.Fatalf("%s %s as %q: %d %q, want %d", rq.method, rq.target, rq.as.name, status, b, want)
	}
	return b
}
