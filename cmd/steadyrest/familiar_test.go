package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/proxy"
)

// The peers' names for our flags set the same things.
func TestPeerFlagNames(t *testing.T) {
	cfg, err := parseFlags([]string{"--path", "/srv/restic", "--addr", "127.0.0.1:1", "--addr", "unix:/tmp/s",
		"--htpasswd", "/h", "--cert", "/c", "--key", "/k", "--config", "/r.conf", "--user", "u", "--pass", "p",
		"--prometheus", "--prometheus-no-auth", "--debug", "--max-size", "10G", "--max-upload-size", "1000",
		"--baseurl", "/restic/"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{remote: "/srv/restic", listen: "127.0.0.1:1", htpasswdFile: "/h", tlsCert: "/c", tlsKey: "/k",
		rcloneConfig: "/r.conf", user: "u", pass: "p", prometheusNoAuth: true, logLevel: "debug",
		maxRepoSize: 10 << 30, maxUploadSize: 1000, baseURL: "/restic"}
	got := config{remote: cfg.remote, listen: cfg.listen, htpasswdFile: cfg.htpasswdFile, tlsCert: cfg.tlsCert,
		tlsKey: cfg.tlsKey, rcloneConfig: cfg.rcloneConfig, user: cfg.user, pass: cfg.pass, prometheusNoAuth: cfg.prometheusNoAuth,
		logLevel: cfg.logLevel, maxRepoSize: cfg.maxRepoSize, maxUploadSize: cfg.maxUploadSize, baseURL: cfg.baseURL}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if strings.Join(cfg.listens, " ") != "127.0.0.1:1 unix:/tmp/s" {
		t.Errorf("listens = %q", cfg.listens)
	}
	// Several addresses from the environment; the command line replaces them.
	t.Setenv("STEADYREST_LISTEN", "127.0.0.1:1, 127.0.0.1:2")
	if cfg, err = parseFlags(nil, io.Discard); err != nil || strings.Join(cfg.listens, " ") != "127.0.0.1:1 127.0.0.1:2" {
		t.Errorf("STEADYREST_LISTEN with two addresses: %q, %v", cfg.listens, err)
	}
	if cfg, err = parseFlags([]string{"--addr", "127.0.0.1:3"}, io.Discard); err != nil || strings.Join(cfg.listens, " ") != "127.0.0.1:3" {
		t.Errorf("--addr over STEADYREST_LISTEN: %q, %v", cfg.listens, err)
	}
	var out bytes.Buffer
	if code := realMain([]string{"--version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "steadyrest ") {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
}

// Bad values stop the start with a message that names the problem.
func TestBadValuesFailAtStart(t *testing.T) {
	dir := t.TempDir()
	store := storeHolding(t, dir, 100)
	base := []string{"--remote", store, "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0"}
	t.Setenv("LISTEN_FDS", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--min-tls-version", "tls9"}, "--min-tls-version"},
		{[]string{"--baseurl", "restic"}, "must start with a slash"},
		{[]string{"--baseurl", "/a b"}, "--baseurl"},
		{[]string{"--max-size", "-1"}, "negative"},
		{[]string{"--max-size", "50"}, "below the 100 bytes already stored"},
		{[]string{"--listen", "systemd:"}, "systemd passed no sockets"},
		{[]string{"--client-ca", "ca.pem"}, "--client-ca needs TLS"},
		{[]string{"--user", "u"}, "--user and --pass"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--heartbeat-interval", "-1s"}, "--heartbeat-interval must not be negative"},
		{[]string{"--scrub-interval", "-1h"}, "--scrub-interval must not be negative"},
	} {
		var stderr bytes.Buffer
		args := append(append([]string{}, base...), c.args...)
		if c.args[0] == "--listen" {
			args = append(base[:4:4], c.args...)
		}
		code := realMain(args, io.Discard, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: exit %d, want an error with %q:\n%s", c.args, code, c.want, stderr.String())
		}
	}
}

// storeHolding is a local remote under dir that already holds size bytes
// (in a repository "old").
func storeHolding(t *testing.T, dir string, size int) string {
	t.Helper()
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(filepath.Join(store, "old", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "old", "data", "x"), make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	return store
}

func blobName(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func do(t *testing.T, c *http.Client, method, url string, body []byte, user, pass string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// --max-size is rest-server's quota: counted at start, kept current by
// uploads and deletes, 507 when a write would pass it. steadyrest's own
// objects (heartbeats of other instances here) do not count.
func TestRepositoryQuota(t *testing.T) {
	dir := t.TempDir()
	store := storeHolding(t, dir, 300)
	own := filepath.Join(store, overlay.ReservedDir, "instances")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(own, "x"), make([]byte, 500), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startRun(t, "--remote", store, "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0",
		"--no-request-log", "--max-size", "1000")
	u := "http://" + addr + "/r/"
	if s := do(t, nil, "POST", u+"?create=true", nil, "", ""); s != 200 {
		t.Fatalf("create: %d", s)
	}
	a, b := bytes.Repeat([]byte("a"), 600), bytes.Repeat([]byte("b"), 200)
	if s := do(t, nil, "POST", u+"data/"+blobName(a), a, "", ""); s != 200 {
		t.Fatalf("600 bytes with 300 stored under 1000: %d", s)
	}
	if s := do(t, nil, "POST", u+"data/"+blobName(b), b, "", ""); s != http.StatusInsufficientStorage {
		t.Fatalf("200 more bytes, 1100 of 1000: %d, want 507", s)
	}
	if s := do(t, nil, "DELETE", u+"data/"+blobName(a), nil, "", ""); s != 200 {
		t.Fatalf("delete: %d", s)
	}
	if s := do(t, nil, "POST", u+"data/"+blobName(b), b, "", ""); s != 200 {
		t.Fatalf("200 bytes after the delete gave 600 back: %d", s)
	}
}

// Several --addr listeners; --user/--pass without a file; --baseurl.
func TestListenersUserAndBaseURL(t *testing.T) {
	dir := t.TempDir()
	_, logs := startRunLogs(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--addr", "127.0.0.1:0", "--addr", "127.0.0.1:0", "--user", "alice", "--pass", "secret",
		"--baseurl", "/sr", "--no-request-log")
	addrs := regexp.MustCompile(`msg=listening addr=(\S+)`).FindAllStringSubmatch(logs.String(), -1)
	if len(addrs) != 2 {
		t.Fatalf("want two listeners in the log:\n%s", logs.String())
	}
	for _, m := range addrs {
		base := "http://" + m[1]
		for _, c := range []struct {
			method, path, user, pass string
			want                     int
		}{
			{"GET", "/sr/healthz", "", "", 200},
			{"GET", "/healthz", "", "", 404},
			{"POST", "/sr/r/?create=true", "", "", 401},
			{"POST", "/sr/r/?create=true", "alice", "wrong", 401},
			{"POST", "/sr/r/?create=true", "alice", "secret", 200},
			{"GET", "/sr/r/keys/", "alice", "secret", 200},
			{"GET", "/srx/r/keys/", "alice", "secret", 404},
			{"GET", "/sr/metrics", "alice", "secret", 200},
		} {
			if s := do(t, nil, c.method, base+c.path, nil, c.user, c.pass); s != c.want {
				t.Errorf("%s %s%s as %q: %d, want %d", c.method, m[1], c.path, c.user, s, c.want)
			}
		}
	}
}

// With --private-repos only the user metrics reads /metrics; with
// --metrics-listen, --metrics-no-auth opens that listener only.
func TestMetricsAuth(t *testing.T) {
	dir := t.TempDir()
	sum := sha1.Sum([]byte("pw"))
	htp := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htp, []byte("alice:{SHA}"+base64.StdEncoding.EncodeToString(sum[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, logs := startRunLogs(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--htpasswd", htp, "--user", "metrics", "--pass", "mpw", "--private-repos",
		"--metrics-listen", "127.0.0.1:0", "--metrics-no-auth", "--no-request-log")
	m := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics listener in the log:\n%s", logs.String())
	}
	for _, c := range []struct {
		url, user, pass string
		want            int
	}{
		{"http://" + addr + "/metrics", "alice", "pw", 401},
		{"http://" + addr + "/metrics", "", "", 401},
		{"http://" + addr + "/metrics", "metrics", "mpw", 200},
		{"http://" + addr + "/alice/keys/", "alice", "pw", 200},
		{"http://" + m[1] + "/metrics", "", "", 200},
	} {
		if s := do(t, nil, "GET", c.url, nil, c.user, c.pass); s != c.want {
			t.Errorf("GET %s as %q: %d, want %d", c.url, c.user, s, c.want)
		}
	}
}

// --client-ca asks for client certificates; --min-tls-version refuses
// older clients; a renewed certificate is served without a restart.
func TestTLSClientCAMinVersionAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cdir := filepath.Join(dir, "client")
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey, _ := selfSigned(t, cdir)
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--cert", certFile, "--key", keyFile, "--client-ca", clientCert,
		"--min-tls-version", "tls1.3", "--no-request-log")
	kp, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	get := func(tc *tls.Config) (*http.Response, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
		defer c.CloseIdleConnections()
		resp, err := c.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	if _, err := get(&tls.Config{RootCAs: pool}); err == nil {
		t.Error("a client without a certificate got in")
	}
	if _, err := get(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}, MaxVersion: tls.VersionTLS12}); err == nil {
		t.Error("a TLS 1.2 client got past --min-tls-version tls1.3")
	}
	resp, err := get(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("client with a certificate: %v", err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("served %s over TLS, want HTTP/2", resp.Proto)
	}
	first := resp.TLS.PeerCertificates[0].SerialNumber

	// Renew: a new certificate in the same files.
	ndir := filepath.Join(dir, "new")
	if err := os.MkdirAll(ndir, 0o700); err != nil {
		t.Fatal(err)
	}
	newCert, newKey, newPool := selfSigned(t, ndir)
	for src, dst := range map[string]string{newCert: certFile, newKey: keyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dst+".tmp", dst); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		resp, err := get(&tls.Config{RootCAs: newPool, Certificates: []tls.Certificate{kp}})
		if err == nil && resp.TLS.PeerCertificates[0].SerialNumber.Cmp(first) != 0 {
			break
		}
		if i == 100 {
			t.Fatalf("the renewed certificate was not served: %v", err)
		}
		waitBriefly()
	}
}

// waitBriefly paces a loop that waits for something to happen.
func waitBriefly() { time.Sleep(100 * time.Millisecond) }

// Which /metrics each no-auth flag opens: --metrics-no-auth the metrics
// listener only, rest-server's --prometheus-no-auth the API's.
func TestGuardMetrics(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	auth := proxy.StaticUser("u", "")
	for _, c := range []struct {
		cfg                 config
		apiOpen, listenOpen bool
	}{
		{config{metricsListen: ":9100"}, false, false},
		{config{metricsListen: ":9100", metricsNoAuth: true}, false, true},
		{config{metricsNoAuth: true}, false, true},
		{config{prometheusNoAuth: true}, true, false},
	} {
		api, listener := guardMetrics(&c.cfg, auth, inner, slog.New(slog.DiscardHandler))
		for _, h := range []struct {
			name string
			h    http.Handler
			open bool
		}{{"API", api, c.apiOpen}, {"metrics listener", listener, c.listenOpen}} {
			w := httptest.NewRecorder()
			h.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if open := w.Code == http.StatusOK; open != h.open {
				t.Errorf("%+v: %s's /metrics open = %v, want %v", c.cfg, h.name, open, h.open)
			}
		}
	}
}
