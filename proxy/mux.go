package proxy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Routes sends the service endpoints to their handlers and every other
// path to the REST API. Not an http.ServeMux: that cleans paths and
// redirects (/a/../config to /config), and the protocol layer must see the
// raw path to refuse traversal with a 400. Exact paths only:
// /metrics/config is still the config of a repository named metrics.
// A nil handler leaves its path to the API; a nil API answers 404.
// Every answer carries the browser headers (see browserHeaders).
type Routes struct {
	Healthz, Readyz, Metrics, Status, API http.Handler
}

func (rt *Routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	browserHeaders(w.Header())
	var h http.Handler
	switch r.URL.Path {
	case "/healthz":
		h = rt.Healthz
	case "/readyz":
		h = rt.Readyz
	case "/metrics":
		h = rt.Metrics
	case "/status":
		h = rt.Status
	}
	if h != nil {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			refuseUnread(w, r)
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
		return
	}
	if rt.API == nil {
		refuseUnread(w, r)
		http.NotFound(w, r)
		return
	}
	rt.API.ServeHTTP(w, r)
}

// browserHeaders tell a browser that opens any answer (an uploaded blob
// served back, an error, the metrics) to take it as the type it is said
// to be, never to frame it, and to run and load nothing from it. A page
// that needs more (the status page's style) sets its own policy.
func browserHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
}

// Healthz answers /healthz: the process serves HTTP. It checks nothing
// more, so that a remote outage does not get the process restarted.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "ok\n")
}

// A ReadyCheck reports whether one thing the service needs works, such as
// "the remote answered a cheap call" or "the journal took a write"; nil
// means it does.
type ReadyCheck func(ctx context.Context) error

const (
	// readyCacheFor is how long a readiness result is reused, so that
	// probes cannot hammer a slow remote.
	readyCacheFor = 5 * time.Second
	// readyTimeout bounds one round of checks.
	readyTimeout = 10 * time.Second
)

// A ReadyWarning reports something the operator must know that does not
// stop the service (another instance on the same remote path breaks the
// guarantee, yet requests are served): /readyz stays 200 and its body says
// it. "" means nothing to say. Read at every probe, so it must be cheap.
type ReadyWarning func() string

// Readiness answers /readyz: 200 when every check passed within the last
// few seconds, 503 with the first failure otherwise; the body adds the
// warnings of the moment either way.
type Readiness struct {
	checks   []ReadyCheck
	warnings []ReadyWarning
	now      func() time.Time // time.Now; tests move it

	mu      sync.Mutex // held while checking: concurrent probes share one round
	checked time.Time
	err     error
}

// NewReadiness returns a /readyz handler that runs checks in order.
func NewReadiness(checks ...ReadyCheck) *Readiness {
	return &Readiness{checks: checks, now: time.Now}
}

// Warn adds warnings to the answer, and returns rd.
func (rd *Readiness) Warn(warnings ...ReadyWarning) *Readiness {
	rd.warnings = append(rd.warnings, warnings...)
	return rd
}

func (rd *Readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := rd.result(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var said []string
	for _, warn := range rd.warnings {
		if s := warn(); s != "" {
			said = append(said, s)
		}
	}
	extra := ""
	if len(said) > 0 {
		extra = " (warning: " + strings.Join(said, "; ") + ")"
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: "+err.Error()+extra+"\n")
		return
	}
	_, _ = io.WriteString(w, "ready"+extra+"\n")
}

// result is the last round's outcome, running a new round when it is stale.
func (rd *Readiness) result(ctx context.Context) error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.now().Sub(rd.checked) <= readyCacheFor {
		return rd.err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	rd.err = nil
	for _, check := range rd.checks {
		if rd.err = check(ctx); rd.err != nil {
			break
		}
	}
	rd.checked = rd.now()
	return rd.err
}
