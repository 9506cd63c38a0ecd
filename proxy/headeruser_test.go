package proxy

import (
	"context"
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

func headerOptions(trusted ...string) Options {
	opt := Options{PrivateRepos: true, UserHeader: userHeader}
	for _, p := range trusted {
		opt.TrustedProxies = append(opt.TrustedProxies, netip.MustParsePrefix(p))
	}
	return opt
}

// A proxy in front on loopback (the default trust) names the user: no
// password, and the private-repository rule applies to that user. Without
// the header, Basic authentication applies. A header that is not one
// clean name is refused with 400.
func TestHeaderUserFromTrustedProxy(t *testing.T) {
	opt := headerOptions()
	opt.Auth = writeHtpasswd(t, shaLine("alice", "apw"), shaLine("bob", "bpw"))
	e := newEnv(t, "memory", opt)
	c, base := http.DefaultClient, e.srv.URL
	if st := headerReq(t, c, base, http.MethodPost, "/alice/r/?create=true", []string{"alice"}, "", ""); st != http.StatusOK {
		t.Fatalf("create as header user alice: %d", st)
	}
	if st := headerReq(t, c, base, http.MethodGet, "/alice/r/config", []string{"alice"}, "", ""); st != http.StatusNotFound {
		t.Errorf("alice's config as header user alice: %d, want 404", st)
	}
	if st := headerReq(t, c, base, http.MethodGet, "/alice/r/config", []string{"bob"}, "", ""); st != http.StatusUnauthorized {
		t.Errorf("alice's config as header user bob: %d, want 401", st)
	}
	// No header: Basic authentication.
	if st := headerReq(t, c, base, http.MethodGet, "/alice/r/config", nil, "", ""); st != http.StatusUnauthorized {
		t.Errorf("no header, no password: %d, want 401", st)
	}
	if st := headerReq(t, c, base, http.MethodGet, "/alice/r/config", nil, "alice", "apw"); st != http.StatusNotFound {
		t.Errorf("no header, alice's password: %d, want 404", st)
	}
	if st := headerReq(t, c, base, http.MethodGet, "/alice/r/config", []string{""}, "alice", "apw"); st != http.StatusNotFound {
		t.Errorf("empty header, alice's password: %d, want 404", st)
	}
	for _, bad := range [][]string{{"alice", "bob"}, {"", "alice"}, {"al\tice"}, {"al\u0085ice"}, {"a:b"}, {"../alice"}} {
		if st := headerReq(t, c, base, http.MethodGet, "/alice/r/config", bad, "alice", "apw"); st != http.StatusBadRequest {
			t.Errorf("header %q: %d, want 400", bad, st)
		}
	}
	var users []string
	for _, ri := range e.infos.all() {
		users = append(users, ri.User)
	}
	if len(users) < 2 || users[0] != "alice" || users[2] != "bob" {
		t.Errorf("observed users %q, want the header's", users)
	}
}

// From a peer not in TrustedProxies the header is ignored: a client cannot
// name itself. TrustedProxies excludes 127.0.0.1 here, so the test's
// loopback client is such a peer.
func TestHeaderUserSpoofedIsIgnored(t *testing.T) {
	opt := headerOptions("10.0.0.0/8", "::1/128")
	opt.Auth = writeHtpasswd(t, shaLine("alice", "apw"), shaLine("bob", "bpw"))
	e := newEnv(t, "memory", opt)
	c, base := http.DefaultClient, e.srv.URL
	if st := headerReq(t, c, base, http.MethodPost, "/alice/r/?create=true", []string{"alice"}, "", ""); st != http.StatusUnauthorized {
		t.Fatalf("spoofed header alice, no password: %d, want 401", st)
	}
	// With a password, the password's user counts, not the header's.
	if st := headerReq(t, c, base, http.MethodPost, "/alice/r/?create=true", []string{"alice"}, "bob", "bpw"); st != http.StatusUnauthorized {
		t.Errorf("spoofed header alice with bob's password, alice's repository: %d, want 401", st)
	}
	if st := headerReq(t, c, base, http.MethodPost, "/bob/r/?create=true", []string{"alice"}, "bob", "bpw"); st != http.StatusOK {
		t.Errorf("spoofed header alice with bob's password, bob's repository: %d, want 200", st)
	}
	// Even a malformed header is ignored: it is not the proxy's.
	if st := headerReq(t, c, base, http.MethodGet, "/bob/r/config", []string{"x", "y"}, "bob", "bpw"); st != http.StatusNotFound {
		t.Errorf("untrusted malformed header with bob's password: %d, want 404 (no config yet)", st)
	}
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
		opt := headerOptions(c.trusted...)
		opt.Auth = writeHtpasswd(t, shaLine("alice", "apw"))
		e := newEnv(t, "memory", opt)
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
