package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// startRun runs the server in-process until the test ends and returns its
// listen address (from the "serving" log line).
func startRun(t *testing.T, args ...string) string {
	t.Helper()
	addr, _ := startRunLogs(t, args...)
	return addr
}

// startRunLogs is startRun that also returns the server's log.
func startRunLogs(t *testing.T, args ...string) (string, *testutil.Buffer) {
	t.Helper()
	if !slices.Contains(args, "--heartbeat-interval") {
		// Tests run several servers in one process, and each run sets
		// rclone's process-wide options, which a heartbeat upload of an
		// earlier server reads meanwhile (a data race no single process
		// of steadyrest has): heartbeats only where a test asks.
		args = append(args, "--heartbeat-interval", "0")
	}
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v\n%s", err, logs.String())
		}
	})
	re := regexp.MustCompile(`msg="steadyrest serving" addr=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1], logs
		}
		select {
		case err := <-done:
			done <- nil // for the cleanup, which waits for it
			t.Fatalf("server stopped: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", logs.String())
	return "", nil
}

// A remote defined only by RCLONE_CONFIG_<NAME>_<KEY> variables, served on
// a unix socket.
func TestUnixSocketAndRcloneEnvRemote(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RCLONE_CONFIG_ENVREMOTE_TYPE", "local")
	sock := filepath.Join(dir, "sock", "steadyrest.sock")
	startRun(t, "--remote", "envremote:"+filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "unix:"+sock, "--rclone-config", filepath.Join(dir, "none.conf"), "--no-request-log")
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Post("http://unix/r/?create=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create over the socket: %s", resp.Status)
	}
	if _, err := os.Stat(filepath.Join(dir, "store", "r", "keys")); err != nil {
		t.Fatalf("the env-defined remote did not get the repository: %v", err)
	}
}

func TestServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--no-request-log")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("healthz over TLS: %s, tls=%v", resp.Status, resp.TLS != nil)
	}
	// Plain HTTP to the TLS port is refused.
	resp, err = http.Get("http://" + addr + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62)) // renewals must differ
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "steadyrest test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// run wires the service routes beside the API: /readyz checks the real
// store (remote and journal).
func TestServiceRoutesAreWired(t *testing.T) {
	dir := t.TempDir()
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--no-request-log")
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n", "/metrics": "steadyrest_"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s %.80q, want 200 with %q", path, resp.Status, body, want)
		}
	}
}
