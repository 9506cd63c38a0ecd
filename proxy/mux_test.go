package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRoutesKeepRawPathsForTheAPI(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.EscapedPath()) })
	}
	rt := &Routes{Healthz: named("healthz"), Readyz: named("readyz"), Metrics: named("metrics"), Status: named("status"), API: named("api")}
	srv := httptest.NewServer(rt)
	defer srv.Close()
	for path, want := range map[string]string{
		"/healthz":        "healthz /healthz",
		"/readyz":         "readyz /readyz",
		"/metrics":        "metrics /metrics",
		"/metrics/config": "api /metrics/config",
		"/status":         "status /status",
		"/status/config":  "api /status/config",
		"/a/../config":    "api /a/../config", // not cleaned or redirected: the API refuses it
		"/a//config":      "api /a//config",
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		req.URL.Opaque = "//" + strings.TrimPrefix(srv.URL, "http://") + path // keep the path as written
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("GET %s: %q, want %q", path, body, want)
		}
		checkBrowserHeaders(t, path, resp.Header)
	}
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /metrics: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// checkBrowserHeaders fails t unless h forbids sniffing, framing and
// anything active.
func checkBrowserHeaders(t *testing.T, path string, h http.Header) {
	t.Helper()
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
		!strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'") {
		t.Errorf("%s: browser headers %v", path, h)
	}
}

// The metrics-only listener has no API behind its routes.
func TestRoutesWithoutAPI(t *testing.T) {
	rt := &Routes{Metrics: http.HandlerFunc(Healthz)}
	for path, want := range map[string]int{"/metrics": http.StatusOK, "/healthz": http.StatusNotFound, "/r/config": http.StatusNotFound} {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest(http.MethodHead, path, nil))
		if w.Code != want {
			t.Errorf("HEAD %s: %d, want %d", path, w.Code, want)
		}
		checkBrowserHeaders(t, path, w.Header())
	}
}

func TestHealthz(t *testing.T) {
	w := httptest.NewRecorder()
	Healthz(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != http.StatusOK || w.Body.String() != "ok\n" {
		t.Fatalf("healthz: %d %q", w.Code, w.Body.String())
	}
}

// fakeCheck is a ReadyCheck that counts its calls and fails with err.
type fakeCheck struct {
	calls int
	err   error
	ctx   context.Context
}

func (f *fakeCheck) check(ctx context.Context) error {
	f.calls++
	f.ctx = ctx
	return f.err
}

func readyz(t *testing.T, rd *Readiness) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	rd.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return w.Code, w.Body.String()
}

func TestReadinessRunsChecksInOrder(t *testing.T) {
	remote, journal := &fakeCheck{}, &fakeCheck{}
	rd := NewReadiness(remote.check, journal.check)
	if code, body := readyz(t, rd); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("all checks pass: %d %q", code, body)
	}
	if remote.calls != 1 || journal.calls != 1 {
		t.Fatalf("calls: remote %d, journal %d", remote.calls, journal.calls)
	}
	if _, ok := remote.ctx.Deadline(); !ok {
		t.Error("a check runs without a deadline: a hung remote would hang the probe")
	}

	rd = NewReadiness(remote.check, journal.check)
	remote.err = errors.New("remote: timed out")
	if code, body := readyz(t, rd); code != http.StatusServiceUnavailable || body != "not ready: remote: timed out\n" {
		t.Fatalf("remote down: %d %q", code, body)
	}
	if journal.calls != 1 {
		t.Error("the journal was checked after the remote had failed")
	}
}

// Warnings keep /readyz at 200 but say what the operator must know, read
// afresh at every probe (not cached with the checks); they ride along on
// a 503 too.
func TestReadinessWarnings(t *testing.T) {
	remote := &fakeCheck{}
	peers := ""
	rd := NewReadiness(remote.check).Warn(
		func() string { return peers },
		func() string { return "" },
	)
	if code, body := readyz(t, rd); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("no warning: %d %q", code, body)
	}
	peers = "1 other instance"
	if code, body := readyz(t, rd); code != http.StatusOK || body != "ready (warning: 1 other instance)\n" {
		t.Fatalf("a warning within the cache time: %d %q", code, body)
	}
	rd.Warn(func() string { return "second" })
	if _, body := readyz(t, rd); body != "ready (warning: 1 other instance; second)\n" {
		t.Fatalf("two warnings: %q", body)
	}
	rd = NewReadiness((&fakeCheck{err: errors.New("remote: down")}).check).Warn(func() string { return peers })
	if code, body := readyz(t, rd); code != http.StatusServiceUnavailable || body != "not ready: remote: down (warning: 1 other instance)\n" {
		t.Fatalf("failing check with a warning: %d %q", code, body)
	}
	if remote.calls != 1 {
		t.Errorf("the checks ran %d times in the cache time, want 1", remote.calls)
	}
}

// Probes within readyCacheFor reuse the last result; a later one checks
// again.
func TestReadinessCachesResult(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	remote := &fakeCheck{err: errors.New("down")}
	rd := NewReadiness(remote.check)
	rd.now = func() time.Time { return now }

	readyz(t, rd)
	remote.err = nil
	now = now.Add(readyCacheFor)
	if code, _ := readyz(t, rd); code != http.StatusServiceUnavailable || remote.calls != 1 {
		t.Fatalf("within %s: %d after %d checks, want the cached 503 after 1", readyCacheFor, code, remote.calls)
	}
	now = now.Add(time.Millisecond)
	if code, _ := readyz(t, rd); code != http.StatusOK || remote.calls != 2 {
		t.Fatalf("after %s: %d after %d checks, want 200 after 2", readyCacheFor, code, remote.calls)
	}
}
