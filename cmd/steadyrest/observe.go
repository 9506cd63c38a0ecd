package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/steadyrest/steadyrest/cache"
	"github.com/steadyrest/steadyrest/metrics"
	"github.com/steadyrest/steadyrest/proxy"
)

// cacheObserver feeds the overlay's events and remote calls to the metrics.
type cacheObserver struct{ m *metrics.Metrics }

func (o cacheObserver) RemoteOp(op, result string, d time.Duration) { o.m.ObserveRemote(op, result, d) }
func (o cacheObserver) Event(name string)                           { o.m.OverlayEvent(name) }
func (o cacheObserver) Visible(kind string, lag time.Duration)      { o.m.ObserveVisibleLag(kind, lag) }
func (o cacheObserver) Retry(op string)                             { o.m.RemoteRetry(op) }

// overlayGauges reads the store's state at scrape time.
func overlayGauges(s *cache.Store) func() metrics.OverlayGauges {
	return func() metrics.OverlayGauges {
		st := s.Stats()
		return metrics.OverlayGauges{
			Created: st.Created, Tombstones: st.Tombstones, PendingReap: st.PendingReaps,
			OldestPendingReap: st.OldestPendingReap, ContentCacheBytes: st.ContentBytes,
			ContentCacheHits: st.ContentHits, ContentCacheMisses: st.ContentMisses,
			JournalBytes: st.JournalBytes,
		}
	}
}

// requestObserver feeds finished requests to the metrics.
func requestObserver(m *metrics.Metrics) func(proxy.RequestInfo) {
	return func(ri proxy.RequestInfo) {
		m.Observe(metrics.Request{Method: ri.Method, Repo: ri.Repo, Type: ri.Type, List: ri.List,
			Status: ri.Status, Duration: ri.Duration, BytesIn: ri.BytesIn, BytesOut: ri.BytesOut})
	}
}

// readiness answers /readyz: 200 when the remote answered a cheap call and
// the journal took a write within the last few seconds, 503 otherwise. The
// result is kept briefly so that probes cannot hammer a slow remote.
type readiness struct {
	store *cache.Store

	mu      sync.Mutex
	checked time.Time
	err     error
}

const readyCacheFor = 5 * time.Second

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rd.mu.Lock()
	if time.Since(rd.checked) > readyCacheFor {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		rd.err = rd.store.Ready(ctx)
		cancel()
		rd.checked = time.Now()
	}
	err := rd.err
	rd.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready: "+err.Error()+"\n")
		return
	}
	io.WriteString(w, "ready\n")
}

// routes sends the service endpoints to their handlers and everything else
// to the REST API. Not an http.ServeMux: it cleans paths and redirects
// (/a/../config to /config), and the protocol layer must see the raw path
// to refuse traversal with a 400. Exact paths only: /metrics/config is
// still the config of a repository named metrics.
type routes struct {
	healthz, readyz, metrics, api http.Handler
}

func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var h http.Handler
	switch r.URL.Path {
	case "/healthz":
		h = rt.healthz
	case "/readyz":
		h = rt.readyz
	case "/metrics":
		h = rt.metrics
	}
	if h != nil {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
		return
	}
	if rt.api == nil {
		http.NotFound(w, r)
		return
	}
	rt.api.ServeHTTP(w, r)
}
