package faults

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// refusedAtOnce sends rq's headers and no body, as a client that waits
// for the answer (or for 100 Continue) does, and checks that the answer
// is want and that the server then closes the connection, both within
// wait: the server must neither wait for the body nor ask for it.
func refusedAtOnce(addr string, rq rawRequest, want int, wait time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(conn, rq.head("")); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, &http.Request{Method: rq.method})
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("answer %s %q, want %d", res.Status, b, want)
	}
	if n, err := io.Copy(io.Discard, br); err != nil || n > 0 {
		return fmt.Errorf("connection not closed after the answer: %d more bytes, %w", n, err)
	}
	return nil
}

// Uploads that are refused are answered as soon as their headers are in,
// for every reason a refusal has, and the connection is closed without
// reading the body: a client that sends only headers (or waits for 100
// Continue) cannot hold a connection until --body-timeout.
func TestRefusedUploadsAnsweredAtOnce(t *testing.T) {
	const bodyTimeout, wait = 2 * time.Minute, 20 * time.Second
	srv := startSteadyrest(t, t.TempDir(), t.TempDir(), "127.0.0.1:0", nil,
		"--htpasswd", writeHtpasswd(t, alice, bob), "--private-repos", "--append-only",
		"--max-upload-size", "8M", "--max-size", "4M", "--body-timeout", bodyTimeout.String())
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/alice/r/?create=true", as: alice}, 200)
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/alice/r/config", as: alice, body: []byte("config")}, 200)

	id := strings.Repeat("ab", 32)
	length := func(n int) string { return fmt.Sprintf("Content-Length: %d\r\n", n) }
	cases := []struct {
		name string
		rq   rawRequest
		want int
	}{
		{"no credentials", rawRequest{target: "/alice/r/data/" + id, header: length(1000)}, 401},
		{"wrong password", rawRequest{target: "/alice/r/data/" + id, as: user{"alice", "x"}, header: length(1000)}, 401},
		{"another user's repository", rawRequest{target: "/bob/r/data/" + id, as: alice, header: length(1000)}, 401},
		{"append-only overwrite", rawRequest{target: "/alice/r/config", as: alice, header: length(1000)}, 403},
		{"quota", rawRequest{target: "/alice/r/data/" + id, as: alice, header: length(6 << 20)}, 507},
		{"too large", rawRequest{target: "/alice/r/data/" + id, as: alice, header: length(9 << 20)}, 413},
		{"lock too large", rawRequest{target: "/alice/r/locks/" + id, as: alice, header: length(100 << 10)}, 413},
		{"encoded traversal", rawRequest{target: "/alice/%EF%BC%8E%EF%BC%8E/bob/r/data/" + id, as: alice, header: length(1000)}, 400},
		{"no route", rawRequest{target: "/alice/r/data/nothex", as: alice, header: length(1000)}, 400},
		{"no length", rawRequest{target: "/alice/r/data/" + id, as: alice, header: "Transfer-Encoding: chunked\r\n"}, 411},
		{"service endpoint", rawRequest{target: "/healthz", header: length(1000)}, 405},
		{"metrics", rawRequest{target: "/metrics", as: alice, header: length(1000)}, 405},
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*len(cases))
	for i, c := range cases {
		for j, expect := range []string{"", "Expect: 100-continue\r\n"} {
			rq := c.rq
			rq.method, rq.header = "POST", rq.header+expect
			wg.Go(func() {
				if err := refusedAtOnce(srv.Addr, rq, c.want, wait); err != nil {
					errs[2*i+j] = fmt.Errorf("%s (%q): %w", c.name, expect, err)
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("refused uploads whose body never came, with a %s body timeout:\n%v", bodyTimeout, err)
	}
	mustSend(t, srv.Addr, rawRequest{method: "GET", target: "/alice/r/config", as: alice}, 200)
}
