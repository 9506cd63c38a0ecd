package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/steadyrest/steadyrest/health"
)

// The repository health gauges (see package health). Each is absent until
// its figure is known, so that "not seen yet" never reads as 0, and a
// timestamp of 0 never reads as 1970.
var (
	descLastSnapshot = repoDesc("last_snapshot_timestamp_seconds",
		"Unix time the repository's newest snapshot was written through this server, or first listed by it when written past it (another instance); absent until one is seen after the start.")
	descSnapshots = repoDesc("snapshots",
		"Snapshots in the repository as of this server's last listing of snapshots/ plus the writes and deletes through it since; absent until that first listing.")
	descStoredBytes = repoDesc("stored_bytes",
		"Bytes of pack files as of this server's last listing of data/ (restic prune and check list it) plus the writes and deletes through it since (a deleted pack counts as the mean size); absent until that first listing.")
	descPacks = repoDesc("packs",
		"Pack files as of this server's last listing of data/ plus the writes and deletes through it since; absent until that first listing.")
	descLocks = repoDesc("locks",
		"Lock files held, as of this server's last listing of locks/ (restic lists it at every command's start) plus the writes and deletes through it since.")
	descStaleLock = repoDesc("oldest_stale_lock_age_seconds",
		"Age of the oldest lock nobody refreshed for 30 minutes (restic calls it stale; its owner died), dated from its write through this server or the first listing that showed it; 0 when there is none.")
)

// repoDesc describes steadyrest_repository_<name>{repo}.
func repoDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_repository_"+name, help, []string{"repo"}, nil)
}

// healthCollector reads the repositories' health at scrape time.
type healthCollector struct {
	t     atomic.Pointer[health.Tracker]
	label func(repo string) string
}

// SetHealth sets the tracker whose repositories are exported; until then
// the repository health metrics are absent.
func (m *Metrics) SetHealth(t *health.Tracker) {
	if m == nil {
		return
	}
	m.health.t.Store(t)
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastSnapshot, descSnapshots, descStoredBytes, descPacks, descLocks, descStaleLock} {
		ch <- d
	}
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.t.Load()
	if t == nil {
		return
	}
	now := t.Now()
	for _, r := range t.Repos() {
		repo := c.label(r.Name)
		if repo == other {
			continue // one series per repository, or none: never a sum of several
		}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, repo)
		}
		if !r.LastSnapshot.IsZero() {
			gauge(descLastSnapshot, float64(r.LastSnapshot.UnixMilli())/1000)
		}
		if r.SnapshotsKnown {
			gauge(descSnapshots, float64(r.Snapshots))
		}
		if r.DataKnown {
			gauge(descStoredBytes, float64(r.Bytes))
			gauge(descPacks, float64(r.Packs))
		}
		if r.LocksKnown || r.Locks > 0 {
			gauge(descLocks, float64(r.Locks))
			gauge(descStaleLock, r.OldestStaleLockAge(now).Seconds())
		}
	}
}
