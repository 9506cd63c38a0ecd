// Package shared holds the multi-instance end-to-end tests of issue 12:
// several steadyrest processes in front of one remote path, sharing (or,
// for contrast, not sharing) one overlay in Redis, driven by the real
// restic directly or through a round-robin load balancer. The exported
// harness (Balancer, StartCluster) is usable from other test
// packages, such as benchmarks.
package shared

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Balancer is a round-robin load balancer for tests, on a loopback port:
// each HTTP request (not each connection: a client's keep-alive connection
// is spread too) goes to the next backend that has not been dropped. It is
// the harshest placement for a shared overlay: consecutive requests of one
// restic command land on different instances.
type Balancer struct {
	srv      *httptest.Server
	backends []*url.URL
	proxies  []*httputil.ReverseProxy
	tr       *http.Transport

	mu     sync.Mutex
	next   int    // guarded by mu
	down   []bool // dropped backends; guarded by mu
	served []atomic.Int64
	failed []atomic.Int64 // requests answered 502 because the backend failed
	logf   func(format string, args ...any)
}

// NewBalancer starts a balancer in front of backends, given as base URLs
// (http://host:port). logf, if not nil, gets one line per request a
// backend failed to answer.
func NewBalancer(logf func(format string, args ...any), backends ...string) (*Balancer, error) {
	if len(backends) == 0 {
		return nil, fmt.Errorf("balancer: no backend")
	}
	b := &Balancer{
		served: make([]atomic.Int64, len(backends)),
		failed: make([]atomic.Int64, len(backends)),
		down:   make([]bool, len(backends)),
		logf:   logf,
		// Enough idle connections per backend that a busy restic does not
		// open a new one per request.
		tr: &http.Transport{
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	for _, s := range backends {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("balancer: backend %q: %w", s, err)
		}
		if u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("balancer: backend %q: want http://host:port", s)
		}
		b.backends = append(b.backends, u)
		b.proxies = append(b.proxies, b.proxy(len(b.backends)-1, u))
	}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	return b, nil
}

// proxy is the reverse proxy to backend i at target.
func (b *Balancer) proxy(i int, target *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		// The target has no path, so the client's path and query (which
		// carry the repository) pass unchanged.
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: b.tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			b.failed[i].Add(1)
			if b.logf != nil {
				b.logf("balancer: %s %s via backend %d (%s): %v", r.Method, r.URL.Path, i, target.Host, err)
			}
			// What a real balancer answers when its backend died under a
			// request; restic retries it.
			http.Error(w, fmt.Sprintf("balancer: backend %d: %v", i, err), http.StatusBadGateway)
		},
	}
}

// pick returns the next live backend, or -1 when all are dropped.
func (b *Balancer) pick() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range b.backends {
		i := b.next
		b.next = (b.next + 1) % len(b.backends)
		if !b.down[i] {
			return i
		}
	}
	return -1
}

func (b *Balancer) serve(w http.ResponseWriter, r *http.Request) {
	i := b.pick()
	if i < 0 {
		http.Error(w, "balancer: every backend is dropped", http.StatusServiceUnavailable)
		return
	}
	b.served[i].Add(1)
	b.proxies[i].ServeHTTP(w, r)
}

// URL is the balancer's base URL, http://127.0.0.1:PORT.
func (b *Balancer) URL() string { return b.srv.URL }

// Repo is the restic repository string for repo through the balancer.
func (b *Balancer) Repo(repo string) string {
	return "rest:" + b.srv.URL + "/" + strings.Trim(repo, "/") + "/"
}

// Drop stops sending new requests to backend i (requests in flight go on).
func (b *Balancer) Drop(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down[i] = true
}

// Served returns how many requests each backend was given.
func (b *Balancer) Served() []int64 {
	out := make([]int64, len(b.served))
	for i := range b.served {
		out[i] = b.served[i].Load()
	}
	return out
}

// Failed returns how many requests each backend failed to answer (502).
func (b *Balancer) Failed() []int64 {
	out := make([]int64, len(b.failed))
	for i := range b.failed {
		out[i] = b.failed[i].Load()
	}
	return out
}

// Close stops the balancer; it waits for requests in flight.
func (b *Balancer) Close() {
	b.srv.Close()
	b.tr.CloseIdleConnections()
}
