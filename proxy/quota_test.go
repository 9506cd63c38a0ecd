package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The quota takes an upload's declared size before any remote call, gives
// it back when the upload fails, and a delete gives back what it removed.
func TestQuota(t *testing.T) {
	q, err := NewQuota(100, 40)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "memory", Options{Quota: q})
	e.mustStatus(t, 200, "POST", "/r/?create=true", nil)
	b50, n50 := blob(strings.Repeat("x", 50))
	b20, n20 := blob(strings.Repeat("y", 20))
	e.mustStatus(t, 200, "POST", "/r/data/"+n50, b50)
	if q.Used() != 90 {
		t.Fatalf("used %d after a 50-byte upload on 40, want 90", q.Used())
	}
	calls := e.fs.calls.Load()
	e.mustStatus(t, http.StatusInsufficientStorage, "POST", "/r/data/"+n20, b20)
	if e.fs.calls.Load() != calls {
		t.Error("a write over the quota reached the remote")
	}
	// A refused upload (name does not match the content) gives its bytes back.
	e.mustStatus(t, http.StatusBadRequest, "POST", "/r/data/"+n50, []byte("z"))
	if q.Used() != 90 {
		t.Fatalf("used %d after a refused upload, want 90", q.Used())
	}
	e.mustStatus(t, 200, "DELETE", "/r/data/"+n50, nil)
	if q.Used() != 40 {
		t.Fatalf("used %d after deleting the 50 bytes, want 40", q.Used())
	}
	e.mustStatus(t, 200, "POST", "/r/data/"+n20, b20)

	if _, err := NewQuota(10, 11); err == nil {
		t.Error("a quota below what is stored was accepted")
	}
}

// BaseURL strips its prefix at a segment boundary and leaves the rest raw,
// so the API still refuses an encoded traversal after it.
func TestBaseURL(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.URL.EscapedPath())
	})
	h := BaseURL("/sr", inner)
	for path, want := range map[string]string{
		"/sr/r/config":     "/r/config",
		"/sr/%2e%2e/x":     "/%2e%2e/x",
		"/srx/r/config":    "404",
		"/r/config":        "404",
		"/sr/a%2Fb/config": "/a%2Fb/config",
	} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("X-Path")
		if w.Code == http.StatusNotFound {
			got = "404"
		}
		if got != want {
			t.Errorf("%s: inner saw %q, want %q", path, got, want)
		}
	}
	if BaseURL("", inner) == nil {
		t.Fatal("BaseURL with no prefix returned nil")
	}
}
