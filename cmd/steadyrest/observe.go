package main

import (
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
func (cacheObserver) RemoteFailed(string, string, error)            {} // counted by RemoteOp
func (o cacheObserver) OverlayOp(op, result string, d time.Duration) {
	o.m.ObserveShared(op, result, d)
}

// overlayGauges reads the store's state, and the peers seen, at scrape
// time.
func overlayGauges(s *cache.Store, peers *cache.PeerWatch) func() metrics.OverlayGauges {
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
