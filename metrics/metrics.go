// Package metrics exposes steadyrest's Prometheus metrics.
//
// It imports only the cache and scrub, for the label vocabularies they own,
// and health, whose tracker it reads at scrape time; the proxy and the
// cache feed it through plain method calls and one gauge callback, so
// either can be tested without it.
//
// Every label has a closed set of values (unknown values become "other"),
// and the repository label is capped, so no client can grow the series
// count without bound by choosing URLs.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/steadyrest/steadyrest/overlay"
)

const namespace = "steadyrest"

// other replaces any label value outside the known set.
const other = "other"

// The closed label sets. The cache owns the names it reports (operations,
// results, lag kinds, overlay events, object types); taking its lists,
// rather than copies, keeps a rename from silently becoming "other".
var (
	knownOps       = overlay.Ops()
	knownResults   = overlay.Results()
	knownKinds     = overlay.VisibleKinds()
	knownEvents    = overlay.Events()
	knownSharedOps = overlay.SharedOps()
	knownTypes     = overlay.TypeNames()
	knownMethods   = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete}
)

// Histogram buckets, in seconds.
var (
	// HTTP requests range from a cached HEAD (sub-millisecond) to a large
	// pack upload to a slow cloud (minutes).
	httpBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	// Remote calls: a cloud API round trip is tens of milliseconds at best.
	remoteBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	// Visibility lag: pCloud shows seconds; the settle window is 10 minutes
	// by default, so the buckets reach it.
	lagBuckets = []float64{.1, .25, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600}
	// Shared overlay calls: a Redis round trip is tens of microseconds on
	// one host, a few milliseconds across a network; the top buckets show
	// an outage's timeouts.
	sharedBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5}
)

// Option changes how New builds Metrics.
type Option func(*Metrics)

// WithLogger sets where scrape errors are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(m *Metrics) { m.log = l }
}

// Metrics holds every steadyrest metric. Its methods are safe for
// concurrent use; a nil *Metrics ignores every call, so callers need no
// "metrics enabled" checks.
type Metrics struct {
	reg prometheus.Registerer
	log *slog.Logger

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	inFlight     prometheus.Gauge

	blobRead         *prometheus.CounterVec
	blobReadBytes    *prometheus.CounterVec
	blobWritten      *prometheus.CounterVec
	blobWrittenBytes *prometheus.CounterVec
	blobDeleted      *prometheus.CounterVec

	remote        calls
	remoteRetries *prometheus.CounterVec
	visibilityLag *prometheus.HistogramVec
	overlayEvents *prometheus.CounterVec
	shared        calls

	overlay *overlayCollector
	health  *healthCollector
	scrub   *scrubCollector // the background scrub (scrub.go)

	repos *RepoCap // which repositories get their own label value
}

// New creates the metrics and registers them, with the Go and process
// collectors, on reg. Call it once per registry: registering steadyrest's
// metrics twice panics. The Go and process collectors may already be there
// (as on prometheus.DefaultRegisterer); that is fine.
func New(reg prometheus.Registerer, opts ...Option) *Metrics {
	m := &Metrics{
		reg:   reg,
		log:   slog.Default(),
		repos: NewRepoCap(MaxRepos),
	}
	for _, o := range opts {
		o(m)
	}

	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_total",
		Help: "REST requests answered, by method, restic file type and status code.",
	}, []string{"method", "type", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time from request start to the last byte of the answer.",
		Buckets: httpBuckets,
	}, []string{"method", "type"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
		Help: "REST requests being served now.",
	})

	repoType := []string{"repo", "type"}
	m.blobRead = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "blob", Name: "read_total",
		Help: "Objects served by successful GET requests.",
	}, repoType)
	m.blobReadBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "blob", Name: "read_bytes_total",
		Help: "Bytes of object content served by successful GET requests.",
	}, repoType)
	m.blobWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "blob", Name: "written_total",
		Help: "Objects stored by successful POST requests.",
	}, repoType)
	m.blobWrittenBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "blob", Name: "written_bytes_total",
		Help: "Bytes of object content stored by successful POST requests.",
	}, repoType)
	m.blobDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "blob", Name: "deleted_total",
		Help: "Objects removed by successful DELETE requests.",
	}, repoType)

	m.remote = newCalls("remote", "the rclone remote", "ok, not_found, error", knownOps, remoteBuckets)
	m.remoteRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "remote", Name: "retries_total",
		Help: "Calls to the rclone remote repeated after a failure.",
	}, []string{"op"})
	m.visibilityLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "remote", Name: "visibility_lag_seconds",
		Help:    "The remote's visibility lag: time from an acknowledged write (create), or a delete the remote accepted, until the remote showed it, estimated from the calls the server makes anyway (the middle between the last call that did not show it and the first that did); 0 on a local folder.",
		Buckets: lagBuckets,
	}, []string{"kind"})
	m.overlayEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "overlay", Name: "events_total",
		Help: "Times the overlay corrected or outlived the remote, by event.",
	}, []string{"event"})
	m.shared = newCalls("shared_overlay", "the shared overlay (Redis)", "ok, error", knownSharedOps, sharedBuckets)
	m.overlay = &overlayCollector{}
	m.health = &healthCollector{label: m.repoLabel}
	m.scrub = &scrubCollector{label: m.repoLabel}

	reg.MustRegister(
		m.httpRequests, m.httpDuration, m.inFlight,
		m.blobRead, m.blobReadBytes, m.blobWritten, m.blobWrittenBytes, m.blobDeleted,
		m.remote.total, m.remote.duration, m.remoteRetries, m.visibilityLag, m.overlayEvents,
		m.shared.total, m.shared.duration, m.overlay, m.health, m.scrub, buildInfoCollector{},
	)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			if _, ok := err.(prometheus.AlreadyRegisteredError); !ok {
				panic(err)
			}
		}
	}

	// Series that alerts and rate() read exist from the start at zero, so
	// "no series" never hides "no event yet".
	for _, op := range knownOps {
		for _, r := range knownResults {
			m.remote.total.WithLabelValues(op, r)
		}
		m.remoteRetries.WithLabelValues(op)
		m.remote.duration.WithLabelValues(op)
	}
	for _, k := range knownKinds {
		m.visibilityLag.WithLabelValues(k)
	}
	for _, e := range knownEvents {
		m.overlayEvents.WithLabelValues(e)
	}
	return m
}

// Handler serves the metrics gathered from g (usually the registry given to
// New), in OpenMetrics when the scraper asks for it. It also counts its own
// scrapes in promhttp_metric_handler_requests_total on the registerer given
// to New. Collector errors are logged and the rest of the scrape is served.
func (m *Metrics) Handler(g prometheus.Gatherer) http.Handler {
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          slogErrorLog{m.log},
		// Bound a slow scrape so it cannot pile up.
		Timeout:             30 * time.Second,
		MaxRequestsInFlight: 4,
	})
	return promhttp.InstrumentMetricHandler(m.reg, h)
}

type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Println(v ...any) {
	s.l.Error("metrics scrape", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}

// Middleware counts requests in flight around next.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		next.ServeHTTP(w, r)
	})
}

// Request describes one finished REST request.
type Request struct {
	Method string
	Repo   string // repository path, "" for the root repository
	Type   string // restic file type (config, data, ...), "" for repository-level requests
	// List marks GET /{type}/: it counts as a request but not as a blob read.
	List     bool
	Status   int
	Duration time.Duration
	BytesIn  int64 // request body bytes read
	BytesOut int64 // answer body bytes written
}

// ObserveRequest records one finished REST request; a GET of a listing is
// recorded as a blob read, so callers that know better use Observe.
func (m *Metrics) ObserveRequest(method, repo, typ string, status int, d time.Duration, bytesIn, bytesOut int64) {
	m.Observe(Request{Method: method, Repo: repo, Type: typ, Status: status, Duration: d, BytesIn: bytesIn, BytesOut: bytesOut})
}

// Observe records one finished REST request.
func (m *Metrics) Observe(r Request) {
	if m == nil {
		return
	}
	method := oneOf(strings.ToUpper(r.Method), knownMethods, "OTHER")
	typ := "repo"
	if r.Type != "" {
		typ = oneOf(r.Type, knownTypes, other)
	}
	m.httpRequests.WithLabelValues(method, typ, strconv.Itoa(r.Status)).Inc()
	m.httpDuration.WithLabelValues(method, typ).Observe(r.Duration.Seconds())

	// Blob counters follow rest-server: successful object requests only.
	if r.Status < 200 || r.Status > 299 || r.Type == "" || typ == other {
		return
	}
	repo := m.repoLabel(r.Repo)
	switch {
	case method == http.MethodGet && !r.List:
		m.blobRead.WithLabelValues(repo, typ).Inc()
		m.blobReadBytes.WithLabelValues(repo, typ).Add(float64(max(r.BytesOut, 0)))
	case method == http.MethodPost:
		m.blobWritten.WithLabelValues(repo, typ).Inc()
		m.blobWrittenBytes.WithLabelValues(repo, typ).Add(float64(max(r.BytesIn, 0)))
	case method == http.MethodDelete:
		m.blobDeleted.WithLabelValues(repo, typ).Inc()
	}
}

// repoLabel returns the label value for repo: itself if the cap admits
// it, "other" if not.
func (m *Metrics) repoLabel(repo string) string {
	repo = "/" + strings.Trim(repo, "/")
	if !m.repos.Admit(repo) {
		return other
	}
	return repo
}

// ObserveRemote records one call to the rclone remote; op is one of
// overlay.Ops, result one of overlay.Results.
func (m *Metrics) ObserveRemote(op, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.remote.observe(op, result, d)
}

// RemoteRetry counts one retry of a remote call.
func (m *Metrics) RemoteRetry(op string) {
	if m == nil {
		return
	}
	m.remoteRetries.WithLabelValues(oneOf(op, knownOps, other)).Inc()
}

// ObserveVisibleLag records how long the remote took to show a create or
// hide a delete, as the store estimated it from its calls (kind is one of
// overlay.VisibleKinds).
func (m *Metrics) ObserveVisibleLag(kind string, d time.Duration) {
	if m == nil {
		return
	}
	m.visibilityLag.WithLabelValues(oneOf(kind, knownKinds, other)).Observe(d.Seconds())
}

// ObserveShared records one call to the shared overlay; op is one of
// overlay.SharedOps, result overlay.ResultOK or overlay.ResultError. Its series
// appear at the first call: an instance without a shared overlay has none.
func (m *Metrics) ObserveShared(op, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.shared.observe(op, result, d)
}

// calls counts and times the calls to one backend (the rclone remote, the
// shared overlay) by operation and result.
type calls struct {
	ops      []string // the known operations; others are counted as "other"
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newCalls names the pair <subsystem>_operations_total and
// <subsystem>_operation_duration_seconds; what names the backend in their
// help, results the result labels it reports.
func newCalls(subsystem, what, results string, ops []string, buckets []float64) calls {
	return calls{
		ops: ops,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "operations_total",
			Help: "Calls to " + what + ", by operation and result (" + results + ").",
		}, []string{"op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "operation_duration_seconds",
			Help:    "Duration of calls to " + what + ".",
			Buckets: buckets,
		}, []string{"op"}),
	}
}

func (c calls) observe(op, result string, d time.Duration) {
	op = oneOf(op, c.ops, other)
	c.total.WithLabelValues(op, oneOf(result, knownResults, other)).Inc()
	c.duration.WithLabelValues(op).Observe(d.Seconds())
}

// OverlayEvent counts one overlay event (one of overlay.Events).
func (m *Metrics) OverlayEvent(event string) {
	if m == nil {
		return
	}
	m.overlayEvents.WithLabelValues(oneOf(event, knownEvents, other)).Inc()
}

func oneOf(v string, known []string, fallback string) string {
	for _, k := range known {
		if v == k {
			return v
		}
	}
	return fallback
}

// The build labels are process-wide, like the binary they describe.
var build atomic.Pointer[[2]string]

var descBuildInfo = prometheus.NewDesc(namespace+"_build_info",
	"Always 1; the labels name the running build.", []string{"version", "revision", "goversion"}, nil)

// SetBuildInfo names the running build in steadyrest_build_info; call it
// once at start (before or after New). Empty values read "unknown".
func SetBuildInfo(version, revision string) {
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		revision = "unknown"
	}
	build.Store(&[2]string{version, revision})
}

type buildInfoCollector struct{}

func (buildInfoCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descBuildInfo }

func (buildInfoCollector) Collect(ch chan<- prometheus.Metric) {
	v := [2]string{"unknown", "unknown"}
	if p := build.Load(); p != nil {
		v = *p
	}
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, v[0], v[1], runtime.Version())
}
