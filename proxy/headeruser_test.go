package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
)

const userHeader = "X-Forwarded-User"

// headerReq sends method path with the user header (when hdr is not nil)
// and Basic credentials (when user is set), and returns the status.
func headerReq(t *testing.T, c *http.Client, base, method, path string, hdr []string, user, pass string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range hdr {
		req.Header.Add(userHeader, v)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// newHeaderEnv serves private repositories for alice (apw) and bob (bpw),
// with the user header believed from trusted.
func newHeaderEnv(t *testing.T, trusted ...string) *testEnv {
	opt := Options{PrivateRepos: true, UserHeader: userHeader}
	for _, p := range trusted {
		opt.TrustedProxies = append(opt.TrustedProxies, netip.MustParsePrefix(p))
	}
	opt.Auth = writeHtpasswd(t, shaLine("alice", "apw"), shaLine("bob", "bpw"))
	return newEnv(t, "memory", opt)
}

// headerCase is one request of a header-user test and the status it must
// get.
type headerCase struct {
	what         string
	method, path string
	hdr          []string // values of the user header
	user, pass   string   // Basic credentials, when user is set
	want         int
}

func runHeaderCases(t *testing.T, base string, cases []headerCase) {
	t.Helper()
	for _, c := range cases {
		if st := headerReq(t, http.DefaultClient, base, c.method, c.path, c.hdr, c.user, c.pass); st != c.want {
			t.Errorf("%s: %d, want %d", c.what, st, c.want)
		}
	}
}

// A proxy in front on loopback (the default trust) names the user: no
// password, and the private-repository rule applies to that user. Without
// the header, Basic authentication applies. A header that is not one
// clean name is refused with 400.
func TestHeaderUserFromTrustedProxy(t *testing.T) {
	e := newHeaderEnv(t)
	const get, cfg = http.MethodGet, "/alice/r/config"
	cases := []headerCase{
		{"create as header user alice", http.MethodPost, "/alice/r/?create=true", []string{"alice"}, "", "", http.StatusOK},
		{"alice's config as header user alice", get, cfg, []string{"alice"}, "", "", http.StatusNotFound},
		{"alice's config as header user bob", get, cfg, []string{"bob"}, "", "", http.StatusUnauthorized},
		{"no header, no password", get, cfg, nil, "", "", http.StatusUnauthorized},
		{"no header, alice's password", get, cfg, nil, "alice", "apw", http.StatusNotFound},
		{"empty header, alice's password", get, cfg, []string{""}, "alice", "apw", http.StatusNotFound},
	}
	for _, bad := range [][]string{{"alice", "bob"}, {"", "alice"}, {"al\tice"}, {"al\u0085ice"}, {"a:b"}, {"../alice"}} {
		cases = append(cases, headerCase{fmt.Sprintf("header %q", bad), get, cfg, bad, "alice", "apw", http.StatusBadRequest})
	}
	runHeaderCases(t, e.srv.URL, cases)
	var users []string
	for _, ri := range e.infos.All() {
		users = append(users, ri.User)
	}
	if len(users) < 3 || users[0] != "alice" || users[2] != "bob" {
		t.Errorf("observed users %q, want the header's", users)
	}
}

// From a peer not in TrustedProxies the header is ignored: a client cannot
// name itself. TrustedProxies excludes 127.0.0.1 here, so the test's
// loopback client is such a peer.
func TestHeaderUserSpoofedIsIgnored(t *testing.T) {
	e := newHeaderEnv(t, "10.0.0.0/8", "::1/128")
	const post = http.MethodPost
	runHeaderCases(t, e.srv.URL, []headerCase{
		{"spoofed header alice, no password", post, "/alice/r/?create=true", []string{"alice"}, "", "", http.StatusUnauthorized},
		// With a password, the password's user counts, not the header's.
		{"spoofed header alice, bob's password, alice's repository", post, "/alice/r/?create=true", []string{"alice"}, "bob", "bpw", http.StatusUnauthorized},
		{"spoofed header alice, bob's password, bob's repository", post, "/bob/r/?create=true", []string{"alice"}, "bob", "bpw", http.StatusOK},
		// Even a malformed header is ignored: it is not the proxy's.
		{"untrusted malformed header, bob's password", http.MethodGet, "/bob/r/config", []string{"x", "y"}, "bob", "bpw", http.StatusNotFound},
	})
}

// A unix-socket peer counts as loopback: trusted by default, and when
// TrustedProxies holds a loopback address; not otherwise.
func TestHeaderUserOverUnixSocket(t *testing.T) {
	for _, c := range []struct {
		trusted []string
		want    int
	}{
		{nil, http.StatusOK},
		{[]string{"127.0.0.1/32"}, http.StatusOK},
		{[]string{"::1/128"}, http.StatusOK},
		{[]string{"10.0.0.0/8"}, http.StatusUnauthorized},
	} {
		e := newHeaderEnv(t, c.trusted...)
		sock := filepath.Join(t.TempDir(), "s")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: e.srv.Config.Handler}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		if st := headerReq(t, client, "http://unix", http.MethodPost, "/alice/r/?create=true", []string{"alice"}, "", ""); st != c.want {
			t.Errorf("trusted %v, header alice over a unix socket: %d, want %d", c.trusted, st, c.want)
		}
	}
}
