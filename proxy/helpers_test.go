package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rclone/rclone/fs"
	"github.com/steadyrest/steadyrest/internal/testutil"
	"github.com/steadyrest/steadyrest/overlay"

	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/memory"
)

// countingFs wraps a real rclone Fs and counts the calls that reach the
// remote, so tests can prove an invalid request never touched it. It offers
// no optional features, so every listing goes through List.
type countingFs struct {
	fs.Fs
	calls    atomic.Int64
	failList atomic.Bool // makes List fail, as a remote outage would
	features *fs.Features
	once     sync.Once
}

func (c *countingFs) Features() *fs.Features {
	c.once.Do(func() {
		c.features = (&fs.Features{}).Fill(context.Background(), c)
	})
	return c.features
}

func (c *countingFs) List(ctx context.Context, dir string) (fs.DirEntries, error) {
	c.calls.Add(1)
	if c.failList.Load() {
		return nil, errors.New("injected remote failure")
	}
	return c.Fs.List(ctx, dir)
}

func (c *countingFs) NewObject(ctx context.Context, remote string) (fs.Object, error) {
	c.calls.Add(1)
	return c.Fs.NewObject(ctx, remote)
}

func (c *countingFs) Put(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error) {
	c.calls.Add(1)
	return c.Fs.Put(ctx, in, src, options...)
}

func (c *countingFs) Mkdir(ctx context.Context, dir string) error {
	c.calls.Add(1)
	return c.Fs.Mkdir(ctx, dir)
}

func (c *countingFs) Rmdir(ctx context.Context, dir string) error {
	c.calls.Add(1)
	return c.Fs.Rmdir(ctx, dir)
}

var memRoots atomic.Int64

// backends are the real rclone remotes every HTTP test runs against.
var backends = []string{"memory", "local"}

func newFs(t testing.TB, backend string) fs.Fs {
	t.Helper()
	ctx := context.Background()
	var root string
	switch backend {
	case "memory":
		// Each call gets its own bucket-like root: the memory backend is
		// process-global, and -count=N reruns a test under the same name.
		root = fmt.Sprintf(":memory:%s_%d", sanitize(t.Name()), memRoots.Add(1))
	case "local":
		root = t.TempDir()
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	f, err := fs.NewFs(ctx, root)
	if err != nil {
		t.Fatalf("NewFs(%q): %v", root, err)
	}
	return f
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

type testEnv struct {
	srv   *httptest.Server
	fs    *countingFs
	store *overlay.Store
	infos *testutil.List[RequestInfo]
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func newEnv(t *testing.T, backend string, opt Options) *testEnv {
	t.Helper()
	return newEnvOver(t, backend, func(*overlay.Store) Options { return opt })
}

// newEnvOver is newEnv with the options made once the store is open (a
// quota over its count).
func newEnvOver(t *testing.T, backend string, options func(*overlay.Store) Options) *testEnv {
	t.Helper()
	cf := &countingFs{Fs: newFs(t, backend)}
	store, err := overlay.New(cf, overlay.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("overlay.New: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	opt := options(store)
	infos := &testutil.List[RequestInfo]{}
	opt.Observer = infos.Add
	if opt.Logger == nil {
		opt.Logger = testLogger(t)
	}
	h, err := New(store, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testEnv{srv: srv, fs: cf, store: store, infos: infos}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request. hdr holds extra headers as key, value pairs.
func (e *testEnv) do(t *testing.T, method, path string, body []byte, hdr ...string) resp {
	t.Helper()
	return doReq(t, e.srv.URL, method, path, body, "", "", hdr...)
}

func doReq(t *testing.T, base, method, path string, body []byte, user, pass string, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatalf("NewRequest %s %s: %v", method, path, err)
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *testEnv) mustStatus(t *testing.T, want int, method, path string, body []byte, hdr ...string) resp {
	t.Helper()
	r := e.do(t, method, path, body, hdr...)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d (body %q)", method, path, r.status, want, r.body)
	}
	return r
}

// blob returns content and its restic name (hex SHA-256).
func blob(s string) ([]byte, string) {
	b := []byte(s)
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}
