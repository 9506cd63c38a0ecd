package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/steadyrest/steadyrest/scrub"
)

// The scrub's kinds and outcomes are the scrub package's own values, so a
// new kind cannot go unexported.
var (
	scrubKinds    = []scrub.Kind{scrub.WrongHash, scrub.WrongSize, scrub.EmptyPack, scrub.Foreign, scrub.Stray}
	scrubOutcomes = []scrub.Outcome{scrub.Clean, scrub.Damaged, scrub.Unverified, scrub.Incomplete}
)

// The background scrub's metrics (--scrub-interval). All are absent until
// the first run ends, so a server that does not scrub exports none and
// "never ran" never reads as a 1970 timestamp or as "no damage".
var (
	descScrubRuns = prometheus.NewDesc(namespace+"_scrub_runs_total",
		"Background scrubs finished, by outcome (clean, damaged, unverified, incomplete).", []string{"outcome"}, nil)
	descScrubLastRun = prometheus.NewDesc(namespace+"_scrub_last_run_timestamp_seconds",
		"Unix time the last background scrub ended.", nil, nil)
	descScrubDuration = prometheus.NewDesc(namespace+"_scrub_last_run_duration_seconds",
		"How long the last background scrub took.", nil, nil)
	descScrubObjects = prometheus.NewDesc(namespace+"_scrub_objects_checked",
		"Objects the last background scrub examined.", nil, nil)
	descScrubUnverified = prometheus.NewDesc(namespace+"_scrub_unverified",
		"Objects the last background scrub could not verify because the remote reports no SHA-256 for them (the server never downloads to verify: run steadyrest scrub --read).", nil, nil)
	descScrubErrors = prometheus.NewDesc(namespace+"_scrub_errors",
		"Objects the last background scrub could not check (an error answered); a run that failed as a whole counts as outcome incomplete.", nil, nil)
	descScrubFindings = prometheus.NewDesc(namespace+"_scrub_findings",
		"Files the last background scrub found not as restic wrote them, by repository and kind (wrong-hash, wrong-size, empty-pack, foreign, stray); 0 for every repository it scrubbed without such a file.", []string{"repo", "kind"}, nil)
)

// scrubCollector exports the last background scrub's figures.
type scrubCollector struct {
	label func(repo string) string

	mu       sync.Mutex
	runs     map[scrub.Outcome]int
	last     *scrub.Report
	end      time.Time
	findings map[string]map[scrub.Kind]int // by repo label
}

// ObserveScrub records a finished background scrub that ended at end.
// The findings' repository labels follow the same cap as every other
// repository label: past it, they add up under "other".
func (m *Metrics) ObserveScrub(rep *scrub.Report, end time.Time) {
	if m == nil || rep == nil {
		return
	}
	c := m.scrub
	byRepo := map[string]map[scrub.Kind]int{}
	count := func(repo string) map[scrub.Kind]int {
		l := c.label(repo)
		if byRepo[l] == nil {
			byRepo[l] = map[scrub.Kind]int{}
		}
		return byRepo[l]
	}
	for _, r := range rep.Repositories {
		count(r)
	}
	for _, f := range rep.Findings {
		count(f.Repository)[f.Kind]++
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[scrub.Outcome]int{}
	}
	c.runs[rep.Outcome]++
	c.last, c.end, c.findings = rep, end, byRepo
}

func (c *scrubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descScrubRuns, descScrubLastRun, descScrubDuration, descScrubObjects, descScrubUnverified, descScrubErrors, descScrubFindings} {
		ch <- d
	}
}

func (c *scrubCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, o := range scrubOutcomes {
		ch <- prometheus.MustNewConstMetric(descScrubRuns, prometheus.CounterValue, float64(c.runs[o]), string(o))
	}
	r := c.last
	gauge(descScrubLastRun, float64(c.end.UnixMilli())/1000)
	gauge(descScrubDuration, r.Duration.Seconds())
	gauge(descScrubObjects, float64(r.Objects))
	gauge(descScrubUnverified, float64(r.Unverified))
	gauge(descScrubErrors, float64(r.ErrorCount))
	for repo, kinds := range c.findings {
		for _, k := range scrubKinds {
			gauge(descScrubFindings, float64(kinds[k]), repo, string(k))
		}
	}
}
