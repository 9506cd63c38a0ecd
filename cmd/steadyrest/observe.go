package main

import (
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/health"
	"github.com/steadyrest/steadyrest/metrics"
	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/proxy"
)

// metricsObserver feeds the overlay's events and remote calls to the metrics.
type metricsObserver struct{ m *metrics.Metrics }

func (o metricsObserver) RemoteOp(op, result string, d time.Duration) {
	o.m.ObserveRemote(op, result, d)
}
func (o metricsObserver) Event(name string)                      { o.m.OverlayEvent(name) }
func (o metricsObserver) Visible(kind string, lag time.Duration) { o.m.ObserveVisibleLag(kind, lag) }
func (o metricsObserver) Retry(op string)                        { o.m.RemoteRetry(op) }
func (metricsObserver) RemoteFailed(string, string, error)       {} // counted by RemoteOp
func (metricsObserver) Object(overlay.ObjectEvent)               {} // counted by Event
func (o metricsObserver) SharedOp(op, result string, d time.Duration) {
	o.m.ObserveShared(op, result, d)
}

// overlayGauges reads the store's state, and the peers seen, at scrape
// time.
func overlayGauges(s *overlay.Store, peers *overlay.PeerWatch) func() metrics.OverlayGauges {
	return func() metrics.OverlayGauges {
		st := s.Stats()
		return metrics.OverlayGauges{
			Created: st.Created, Tombstones: st.Tombstones, PendingReap: st.PendingReaps,
			OldestPendingReap: st.OldestPendingReap, ContentCacheBytes: st.ContentBytes, SpoolBytes: st.SpoolBytes,
			ContentCacheHits: st.ContentHits, ContentCacheMisses: st.ContentMisses,
			JournalBytes: st.JournalBytes, Shared: st.Shared, Leader: st.Leader, LeasesHeld: st.LeasesHeld,
			PeerInstances: peers.PeerInstances(),
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

// withHealth also feeds finished requests to the repositories' health: a
// listing's entries, and the name of each object stored or removed.
func withHealth(t *health.Tracker, next func(proxy.RequestInfo)) func(proxy.RequestInfo) {
	return func(ri proxy.RequestInfo) {
		next(ri)
		if ri.Status < 200 || ri.Status > 299 {
			return
		}
		typ := overlay.Type(ri.Type)
		switch {
		case ri.List:
			t.Listed(ri.Repo, typ, ri.Listing)
		case ri.Method == http.MethodPost && ri.Name != "":
			t.Stored(ri.Repo, typ, ri.Name, ri.BytesIn)
		case ri.Method == http.MethodDelete && ri.Name != "":
			t.Removed(ri.Repo, typ, ri.Name)
		}
	}
}

// healthClockEnv names a file whose content (a Go duration, "31m") moves
// the health tracker's clock, and nothing else's, ahead of the wall clock.
// It exists for the end-to-end test that shows a killed restic's lock
// turn stale without waiting 30 minutes; it is not a flag, not
// documented for operators, and unset it costs nothing.
const healthClockEnv = "STEADYREST_TEST_HEALTH_CLOCK_FILE"

// healthClock is time.Now, moved by healthClockEnv's file when set.
func healthClock() func() time.Time {
	path := os.Getenv(healthClockEnv)
	if path == "" {
		return time.Now
	}
	return func() time.Time {
		b, err := os.ReadFile(path)
		if err != nil {
			return time.Now()
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(b)))
		if err != nil {
			return time.Now()
		}
		return time.Now().Add(d)
	}
}
