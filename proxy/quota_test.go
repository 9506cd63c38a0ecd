package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/steadyrest/steadyrest/overlay"
)

// The quota takes an upload's declared size before any remote call, gives
// it back when the upload fails, and a delete gives back what it removed:
// the store counts, the quota bounds. 40 bytes are stored before the
// store counts.
func TestQuota(t *testing.T) {
	b40, n40 := blob(strings.Repeat("o", 40))
	var q *Quota
	e := newEnvOver(t, "memory", func(store *overlay.Store) Options {
		ctx := context.Background()
		sum := sha256.Sum256(b40)
		if err := store.Put(ctx, overlay.Handle{Repo: "old", Type: overlay.Data, Name: n40}, bytes.NewReader(b40), 40, overlay.PutOptions{SHA256: sum[:]}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.CountUsage(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		if q, err = NewQuota(100, store); err != nil {
			t.Fatal(err)
		}
		if _, err := NewQuota(39, store); err == nil || !strings.Contains(err.Error(), "below the 40 bytes already stored") {
			t.Errorf("a quota below what is stored: %v, want refused", err)
		}
		return Options{Quota: q}
	})
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
	if q.Used() != 60 {
		t.Fatalf("used %d after a 20-byte upload on 40, want 60", q.Used())
	}
}

// Parallel uploads cannot pass the quota together: each counts from the
// moment it is let in until the store has counted it.
func TestQuotaParallelUploads(t *testing.T) {
	var q *Quota
	e := newEnvOver(t, "memory", func(store *overlay.Store) Options {
		if _, err := store.CountUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		var err error
		if q, err = NewQuota(100, store); err != nil {
			t.Fatal(err)
		}
		return Options{Quota: q}
	})
	e.mustStatus(t, 200, "POST", "/r/?create=true", nil)
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		body, name := blob(fmt.Sprintf("%030d", i)) // 30 bytes each
		wg.Go(func() { statuses[i] = e.do(t, "POST", "/r/data/"+name, body).status })
	}
	wg.Wait()
	stored := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			stored++
		case http.StatusInsufficientStorage:
		default:
			t.Errorf("upload: %d", s)
		}
	}
	// Fewer than 3 may pass: an upload the store counted already counts
	// twice until its handler lets go of it (high, never low).
	u, _ := e.store.Usage()
	if stored == 0 || stored > 3 || u.Bytes != int64(30*stored) || q.Used() != u.Bytes {
		t.Errorf("%d of %d parallel 30-byte uploads stored under 100 bytes (store counts %d, quota %d), want 1 to 3, each counted once",
			stored, n, u.Bytes, q.Used())
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
