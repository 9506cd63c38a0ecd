package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OverlayGauges is the cache's state, read at scrape time.
type OverlayGauges struct {
	Created     int // presence records the remote has not confirmed yet
	Tombstones  int // deleted objects the remote may still list
	PendingReap int // tombstones whose remote removal is still to be retried

	// OldestPendingReap is the age of the oldest pending reap, 0 if none:
	// a reaper that is stuck shows here before the count grows.
	OldestPendingReap time.Duration

	ContentCacheBytes  int64
	SpoolBytes         int64  // recent large uploads kept on disk for reads
	ContentCacheHits   uint64 // since start; exposed as a counter
	ContentCacheMisses uint64 // since start; exposed as a counter
	JournalBytes       int64

	// Shared: the records live in a shared overlay. Then Leader (this
	// instance holds the background lease) and LeasesHeld (per-name
	// leases held now) are exported; else they are absent.
	Shared     bool
	Leader     bool
	LeasesHeld int
	// PeerInstances is how many other live instances serve the same
	// remote path without sharing this one's overlay: 0 is healthy (and
	// also what an instance with heartbeats off reports).
	PeerInstances int
}

// SetOverlayGauges sets the function called at each scrape for the
// overlay's state; nil removes it. The function must be quick and safe for
// concurrent use. Until it is set, those metrics are absent.
func (m *Metrics) SetOverlayGauges(f func() OverlayGauges) {
	if m == nil {
		return
	}
	m.overlay.f.Store(&f)
}

var (
	descRecords = prometheus.NewDesc(namespace+"_overlay_records",
		"Overlay records the remote has not confirmed yet, by state.", []string{"state"}, nil)
	descOldestReap = prometheus.NewDesc(namespace+"_overlay_oldest_pending_reap_seconds",
		"Age of the oldest tombstone still waiting for its remote removal, 0 if none.", nil, nil)
	descCacheBytes = prometheus.NewDesc(namespace+"_content_cache_bytes",
		"Bytes of object content held in the content cache.", nil, nil)
	descCacheHits = prometheus.NewDesc(namespace+"_content_cache_hits_total",
		"Reads answered from the content cache.", nil, nil)
	descCacheMisses = prometheus.NewDesc(namespace+"_content_cache_misses_total",
		"Reads of cacheable objects that had to go to the remote.", nil, nil)
	descJournalBytes = prometheus.NewDesc(namespace+"_journal_bytes",
		"Size of the overlay journal on disk.", nil, nil)
	descSpoolBytes = prometheus.NewDesc(namespace+"_spool_bytes",
		"Bytes of recent uploads kept on disk (the spool) so that reads of fresh packs do not wait for the remote.", nil, nil)
	descLeader = prometheus.NewDesc(namespace+"_shared_overlay_leader",
		"1 when this instance holds the shared overlay's background lease (it reaps and confirms for all instances).", nil, nil)
	descLeases = prometheus.NewDesc(namespace+"_shared_overlay_leases_held",
		"Per-object leases of the shared overlay this instance holds now.", nil, nil)
	descPeers = prometheus.NewDesc(namespace+"_peer_instances",
		"Other live steadyrest instances on the same remote path that do not share this one's overlay: above 0 the consistency guarantee does not hold between them.", nil, nil)
)

// overlayCollector asks the cache for its state at scrape time, so the
// cache needs no metrics calls on its hot paths for these figures.
type overlayCollector struct {
	f atomic.Pointer[func() OverlayGauges]
}

func (c *overlayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descOldestReap, descCacheBytes, descCacheHits, descCacheMisses, descJournalBytes, descSpoolBytes, descLeader, descLeases, descPeers} {
		ch <- d
	}
}

func (c *overlayCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.f.Load()
	if p == nil || *p == nil {
		return
	}
	g := (*p)()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descRecords, float64(g.Created), "created")
	gauge(descRecords, float64(g.Tombstones), "tombstone")
	gauge(descRecords, float64(g.PendingReap), "pending_reap")
	gauge(descOldestReap, g.OldestPendingReap.Seconds())
	gauge(descCacheBytes, float64(g.ContentCacheBytes))
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(g.ContentCacheHits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(g.ContentCacheMisses))
	gauge(descJournalBytes, float64(g.JournalBytes))
	gauge(descSpoolBytes, float64(g.SpoolBytes))
	gauge(descPeers, float64(g.PeerInstances))
	if g.Shared {
		leader := 0.0
		if g.Leader {
			leader = 1
		}
		gauge(descLeader, leader)
		gauge(descLeases, float64(g.LeasesHeld))
	}
}
