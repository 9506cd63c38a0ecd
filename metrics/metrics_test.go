package metrics

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/steadyrest/steadyrest/overlay"
)

// setup builds Metrics on a fresh registry and serves it from a real HTTP
// server on loopback, as Prometheus would scrape it.
func setup(t *testing.T, opts ...Option) (*Metrics, *httptest.Server) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg, opts...)
	srv := httptest.NewServer(m.Handler(reg))
	t.Cleanup(srv.Close)
	return m, srv
}

// scrape fetches /metrics with the given Accept header and decodes it with
// expfmt into metric families by name.
func scrape(t *testing.T, srv *httptest.Server, accept string) (map[string]*dto.MetricFamily, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape status %d", resp.StatusCode)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	fams := map[string]*dto.MetricFamily{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decode scrape: %v", err)
		}
		fams[mf.GetName()] = &mf
	}
	return fams, resp.Header
}

// find returns the metric of family name whose labels include want, or nil.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	mf := fams[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(fams, name, labels)
	if m == nil {
		t.Fatalf("no %s%v in scrape", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is not a counter or gauge", name, labels)
	return 0
}

func histogram(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Histogram {
	t.Helper()
	m := find(fams, name, labels)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v in scrape", name, labels)
	}
	return m.Histogram
}

type L = map[string]string

func TestRequests(t *testing.T) {
	m, srv := setup(t)
	m.ObserveRequest("POST", "repo1", "data", 200, 150*time.Millisecond, 4096, 0)
	m.ObserveRequest("POST", "repo1", "data", 200, 50*time.Millisecond, 1000, 0)
	m.ObserveRequest("GET", "/repo1/", "data", 206, 2*time.Millisecond, 0, 512)
	m.ObserveRequest("HEAD", "repo1", "keys", 404, time.Millisecond, 0, 0)
	m.ObserveRequest("DELETE", "repo1", "locks", 200, time.Millisecond, 0, 0)
	m.ObserveRequest("POST", "repo1", "", 200, time.Millisecond, 0, 0) // create repo
	m.ObserveRequest("POST", "repo1", "data", 400, time.Millisecond, 99, 0)
	m.Observe(Request{Method: "GET", Repo: "repo1", Type: "index", List: true, Status: 200, Duration: time.Millisecond, BytesOut: 300})
	m.ObserveRequest("PROPFIND", "repo1", "nonsense", 405, time.Millisecond, 0, 0)

	f, _ := scrape(t, srv, "")
	checks := []struct {
		name   string
		labels L
		want   float64
	}{
		{"steadyrest_http_requests_total", L{"method": "POST", "type": "data", "code": "200"}, 2},
		{"steadyrest_http_requests_total", L{"method": "POST", "type": "data", "code": "400"}, 1},
		{"steadyrest_http_requests_total", L{"method": "GET", "type": "data", "code": "206"}, 1},
		{"steadyrest_http_requests_total", L{"method": "HEAD", "type": "keys", "code": "404"}, 1},
		{"steadyrest_http_requests_total", L{"method": "POST", "type": "repo", "code": "200"}, 1},
		{"steadyrest_http_requests_total", L{"method": "OTHER", "type": "other", "code": "405"}, 1},
		{"steadyrest_blob_written_total", L{"repo": "/repo1", "type": "data"}, 2},
		// The 400 upload is not counted as written.
		{"steadyrest_blob_written_bytes_total", L{"repo": "/repo1", "type": "data"}, 5096},
		{"steadyrest_blob_read_total", L{"repo": "/repo1", "type": "data"}, 1},
		{"steadyrest_blob_read_bytes_total", L{"repo": "/repo1", "type": "data"}, 512},
		{"steadyrest_blob_deleted_total", L{"repo": "/repo1", "type": "locks"}, 1},
		{"steadyrest_http_requests_in_flight", nil, 0},
	}
	for _, c := range checks {
		if got := value(t, f, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// A listing is a request, not a blob read; a repo-level request has no blob series.
	if find(f, "steadyrest_blob_read_total", L{"type": "index"}) != nil {
		t.Error("listing counted as a blob read")
	}
	if find(f, "steadyrest_blob_written_total", L{"type": "repo"}) != nil {
		t.Error("repository creation counted as a blob write")
	}
	h := histogram(t, f, "steadyrest_http_request_duration_seconds", L{"method": "POST", "type": "data"})
	if h.GetSampleCount() != 3 {
		t.Errorf("POST data duration count = %d, want 3", h.GetSampleCount())
	}
	if s := h.GetSampleSum(); s < 0.2 || s > 0.21 {
		t.Errorf("POST data duration sum = %v, want about 0.201", s)
	}
	// No per-object or per-user labels anywhere on the request metrics.
	for _, l := range f["steadyrest_http_requests_total"].GetMetric()[0].GetLabel() {
		if n := l.GetName(); n != "method" && n != "type" && n != "code" {
			t.Errorf("unexpected label %q on requests_total", n)
		}
	}
}

func TestRepoLabelIsBounded(t *testing.T) {
	m, srv := setup(t, func(m *Metrics) { m.repos = NewRepoCap(3) })
	for i := range 10 {
		m.ObserveRequest("POST", fmt.Sprintf("host%d", i), "data", 200, time.Millisecond, 10, 0)
	}
	m.ObserveRequest("POST", "host0", "data", 200, time.Millisecond, 10, 0) // seen before: keeps its label
	f, _ := scrape(t, srv, "")
	series := f["steadyrest_blob_written_bytes_total"].GetMetric()
	if len(series) != 4 {
		t.Fatalf("%d repo series, want 3 repos + other", len(series))
	}
	if got := value(t, f, "steadyrest_blob_written_bytes_total", L{"repo": "/host0"}); got != 20 {
		t.Errorf("host0 bytes = %v, want 20", got)
	}
	if got := value(t, f, "steadyrest_blob_written_bytes_total", L{"repo": "other"}); got != 70 {
		t.Errorf("other bytes = %v, want 70", got)
	}
}

func TestRemoteAndOverlay(t *testing.T) {
	m, srv := setup(t)

	// Zero series exist before anything happens, so alerts can use rate().
	f, _ := scrape(t, srv, "")
	if got := value(t, f, "steadyrest_overlay_events_total", L{"event": overlay.EventRetiredTimeout}); got != 0 {
		t.Fatalf("retired_timeout starts at %v", got)
	}
	if got := value(t, f, "steadyrest_remote_operations_total", L{"op": "put", "result": "error"}); got != 0 {
		t.Fatalf("put/error starts at %v", got)
	}
	if f["steadyrest_overlay_records"] != nil {
		t.Fatal("overlay gauges present before a source is set")
	}

	m.ObserveRemote(overlay.OpPut, overlay.ResultOK, 300*time.Millisecond)
	m.ObserveRemote(overlay.OpPut, overlay.ResultError, 2*time.Second)
	m.ObserveRemote(overlay.OpStat, overlay.ResultNotFound, 10*time.Millisecond)
	m.ObserveRemote("frobnicate", "weird", time.Millisecond)
	m.RemoteRetry(overlay.OpDelete)
	m.RemoteRetry(overlay.OpDelete)
	m.ObserveVisibleLag(overlay.VisibleCreate, 3*time.Second)
	m.ObserveVisibleLag(overlay.VisibleDelete, 9*time.Minute)
	for _, e := range []string{overlay.EventMaskedStale, overlay.EventMaskedStale, overlay.EventRetiredTimeout, overlay.EventReapDone, "bogus"} {
		m.OverlayEvent(e)
	}
	var mu sync.Mutex
	state := OverlayGauges{Created: 5, Tombstones: 2, PendingReap: 1, OldestPendingReap: 90 * time.Second,
		ContentCacheBytes: 1 << 20, ContentCacheHits: 7, ContentCacheMisses: 3, JournalBytes: 4096, SpoolBytes: 3 << 20, PeerInstances: 2}
	m.SetOverlayGauges(func() OverlayGauges { mu.Lock(); defer mu.Unlock(); return state })

	f, _ = scrape(t, srv, "")
	checks := []struct {
		name   string
		labels L
		want   float64
	}{
		{"steadyrest_remote_operations_total", L{"op": "put", "result": "ok"}, 1},
		{"steadyrest_remote_operations_total", L{"op": "put", "result": "error"}, 1},
		{"steadyrest_remote_operations_total", L{"op": "stat", "result": "not_found"}, 1},
		{"steadyrest_remote_operations_total", L{"op": "other", "result": "other"}, 1},
		{"steadyrest_remote_retries_total", L{"op": "delete"}, 2},
		{"steadyrest_remote_retries_total", L{"op": "put"}, 0},
		{"steadyrest_overlay_events_total", L{"event": overlay.EventMaskedStale}, 2},
		{"steadyrest_overlay_events_total", L{"event": overlay.EventRetiredTimeout}, 1},
		{"steadyrest_overlay_events_total", L{"event": overlay.EventReapDone}, 1},
		{"steadyrest_overlay_events_total", L{"event": "other"}, 1},
		{"steadyrest_overlay_records", L{"state": "created"}, 5},
		{"steadyrest_overlay_records", L{"state": "tombstone"}, 2},
		{"steadyrest_overlay_records", L{"state": "pending_reap"}, 1},
		{"steadyrest_overlay_oldest_pending_reap_seconds", nil, 90},
		{"steadyrest_content_cache_bytes", nil, 1 << 20},
		{"steadyrest_content_cache_hits_total", nil, 7},
		{"steadyrest_content_cache_misses_total", nil, 3},
		{"steadyrest_journal_bytes", nil, 4096},
		{"steadyrest_spool_bytes", nil, 3 << 20},
		{"steadyrest_peer_instances", nil, 2},
	}
	for _, c := range checks {
		if got := value(t, f, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if f["steadyrest_content_cache_hits_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("content cache hits is not a counter")
	}
	h := histogram(t, f, "steadyrest_remote_operation_duration_seconds", L{"op": "put"})
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 2.3 {
		t.Errorf("put duration count/sum = %d/%v, want 2/2.3", h.GetSampleCount(), h.GetSampleSum())
	}
	// The delete lag of 9 minutes lands under the 600 s bucket, above 300 s.
	lag := histogram(t, f, "steadyrest_remote_visibility_lag_seconds", L{"kind": "delete"})
	for _, b := range lag.GetBucket() {
		switch b.GetUpperBound() {
		case 300:
			if b.GetCumulativeCount() != 0 {
				t.Errorf("delete lag <=300s = %d, want 0", b.GetCumulativeCount())
			}
		case 600:
			if b.GetCumulativeCount() != 1 {
				t.Errorf("delete lag <=600s = %d, want 1", b.GetCumulativeCount())
			}
		}
	}
	if c := histogram(t, f, "steadyrest_remote_visibility_lag_seconds", L{"kind": "create"}).GetSampleCount(); c != 1 {
		t.Errorf("create lag count = %d, want 1", c)
	}

	// The gauge source is read at each scrape.
	mu.Lock()
	state.PendingReap = 4
	mu.Unlock()
	f, _ = scrape(t, srv, "")
	if got := value(t, f, "steadyrest_overlay_records", L{"state": "pending_reap"}); got != 4 {
		t.Errorf("pending_reap after change = %v, want 4", got)
	}
	m.SetOverlayGauges(nil)
	f, _ = scrape(t, srv, "")
	if f["steadyrest_overlay_records"] != nil {
		t.Error("overlay gauges still present after the source was removed")
	}
}

func TestInFlightMiddleware(t *testing.T) {
	m, srv := setup(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	app := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})))
	defer app.Close()

	done := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := app.Client().Get(app.URL)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
	}
	<-entered
	<-entered
	f, _ := scrape(t, srv, "")
	if got := value(t, f, "steadyrest_http_requests_in_flight", nil); got != 2 {
		t.Errorf("in flight while serving = %v, want 2", got)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	f, _ = scrape(t, srv, "")
	if got := value(t, f, "steadyrest_http_requests_in_flight", nil); got != 0 {
		t.Errorf("in flight after = %v, want 0", got)
	}
}

func TestBuildInfoAndRuntimeCollectors(t *testing.T) {
	SetBuildInfo("v1.2.3", "abc1234")
	t.Cleanup(func() { build.Store(nil) })
	_, srv := setup(t)
	f, _ := scrape(t, srv, "")
	if got := value(t, f, "steadyrest_build_info", L{"version": "v1.2.3", "revision": "abc1234", "goversion": runtime.Version()}); got != 1 {
		t.Errorf("build_info = %v, want 1", got)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds", "process_resident_memory_bytes"} {
		if f[name] == nil {
			t.Errorf("%s missing: Go/process collectors not registered", name)
		}
	}
}

func TestOpenMetricsNegotiation(t *testing.T) {
	m, srv := setup(t)
	m.ObserveRequest("GET", "r", "data", 200, time.Millisecond, 0, 10)

	// Prometheus' own Accept header prefers OpenMetrics.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/openmetrics-text") || !strings.Contains(ct, "version=1.0.0") {
		t.Fatalf("Content-Type = %q, want OpenMetrics 1.0.0", ct)
	}
	text := string(body)
	if !strings.HasSuffix(text, "# EOF\n") {
		t.Error("OpenMetrics body does not end with # EOF")
	}
	// OpenMetrics names the counter family without _total and keeps it on the sample.
	for _, want := range []string{
		"# TYPE steadyrest_http_requests counter\n",
		"steadyrest_http_requests_total{code=\"200\",method=\"GET\",type=\"data\"} 1.0\n",
		"# TYPE steadyrest_build_info gauge\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("OpenMetrics body lacks %q", want)
		}
	}

	// A plain scraper gets the classic text format, which expfmt parses.
	f, h := scrape(t, srv, "text/plain")
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("plain Content-Type = %q", ct)
	}
	if value(t, f, "steadyrest_http_requests_total", L{"method": "GET", "type": "data", "code": "200"}) != 1 {
		t.Error("text scrape lost the request")
	}
	// And a protobuf scraper gets protobuf.
	f, h = scrape(t, srv, string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.google.protobuf") {
		t.Errorf("protobuf Content-Type = %q", ct)
	}
	if value(t, f, "steadyrest_blob_read_bytes_total", L{"repo": "/r", "type": "data"}) != 10 {
		t.Error("protobuf scrape lost the read bytes")
	}
	// The handler counts its own scrapes.
	if value(t, f, "promhttp_metric_handler_requests_total", L{"code": "200"}) < 2 {
		t.Error("scrapes not counted")
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("GET", "r", "data", 200, time.Millisecond, 0, 1)
	m.ObserveRemote(overlay.OpGet, overlay.ResultOK, time.Millisecond)
	m.RemoteRetry(overlay.OpGet)
	m.ObserveVisibleLag(overlay.VisibleCreate, time.Second)
	m.OverlayEvent(overlay.EventReapDone)
	m.SetOverlayGauges(func() OverlayGauges { return OverlayGauges{} })
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusTeapot {
		t.Errorf("nil middleware changed the answer: %d", rec.Code)
	}
}

func TestNewOnDefaultRegistererTolerant(t *testing.T) {
	// The default registry already holds Go and process collectors; New
	// must accept that rather than panic.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	m := New(reg)
	m.OverlayEvent(overlay.EventDeleteAbsorbed)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range fams {
		if f.GetName() == "steadyrest_overlay_events_total" {
			found = true
		}
	}
	if !found {
		t.Error("steadyrest metrics not gathered")
	}
}

func TestConcurrentUse(t *testing.T) {
	m, srv := setup(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				m.ObserveRequest("POST", fmt.Sprintf("r%d", (i+j)%5), "data", 200, time.Millisecond, 1, 0)
				m.ObserveRemote(overlay.OpPut, overlay.ResultOK, time.Millisecond)
				m.OverlayEvent(overlay.EventRetiredConfirmed)
			}
		}()
	}
	m.SetOverlayGauges(func() OverlayGauges { return OverlayGauges{Created: 1} })
	wg.Wait()
	f, _ := scrape(t, srv, "")
	if got := value(t, f, "steadyrest_remote_operations_total", L{"op": "put", "result": "ok"}); got != 1600 {
		t.Errorf("put ok = %v, want 1600", got)
	}
	var total float64
	for _, s := range f["steadyrest_blob_written_bytes_total"].GetMetric() {
		total += s.GetCounter().GetValue()
	}
	if total != 1600 {
		t.Errorf("written bytes over repos = %v, want 1600", total)
	}
}

// The proxy calls ObserveRequest once per request and the cache calls
// ObserveRemote once per remote call: both must stay cheap.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest("POST", "host/repo", "data", 200, 3*time.Millisecond, 4<<20, 0)
		}
	})
}

func BenchmarkObserveRemote(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRemote(overlay.OpPut, overlay.ResultOK, 40*time.Millisecond)
	}
}

// Every name the cache reports gets its own label value: the vocabularies
// come from the cache, so none falls into "other".
func TestCacheVocabulariesAreKnownLabels(t *testing.T) {
	m, srv := setup(t)
	for _, e := range overlay.Events() {
		m.OverlayEvent(e)
	}
	for _, op := range overlay.Ops() {
		for _, r := range overlay.Results() {
			m.ObserveRemote(op, r, time.Millisecond)
		}
		m.RemoteRetry(op)
	}
	for _, k := range overlay.VisibleKinds() {
		m.ObserveVisibleLag(k, time.Second)
	}
	for _, typ := range overlay.TypeNames() {
		m.ObserveRequest("GET", "r", typ, 200, time.Millisecond, 0, 1)
	}
	f, _ := scrape(t, srv, "")
	for _, e := range overlay.Events() {
		if got := value(t, f, "steadyrest_overlay_events_total", L{"event": e}); got != 1 {
			t.Errorf("event %q counted %v times, want 1", e, got)
		}
	}
	for _, op := range overlay.Ops() {
		for _, r := range overlay.Results() {
			if got := value(t, f, "steadyrest_remote_operations_total", L{"op": op, "result": r}); got != 1 {
				t.Errorf("remote op %q result %q counted %v times, want 1", op, r, got)
			}
		}
	}
	for _, typ := range overlay.TypeNames() {
		if got := value(t, f, "steadyrest_blob_read_total", L{"repo": "/r", "type": typ}); got != 1 {
			t.Errorf("type %q counted %v times, want 1", typ, got)
		}
	}
	for _, name := range []string{"steadyrest_overlay_events_total", "steadyrest_remote_operations_total", "steadyrest_remote_retries_total", "steadyrest_remote_visibility_lag_seconds"} {
		for _, mt := range f[name].GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetValue() == other {
					t.Errorf("%s has a series labelled %s=other", name, lp.GetName())
				}
			}
		}
	}
}
