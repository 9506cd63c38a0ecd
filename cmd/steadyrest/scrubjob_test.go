package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/steadyrest/steadyrest/e2e"
	scrube2e "github.com/steadyrest/steadyrest/e2e/scrub"
)

// TestBackgroundScrubFindsDamage runs the built binary with
// --scrub-interval 2s over a local folder holding a repository made by
// the real restic. The first run comes one interval after the start and
// finds it clean; then one pack is truncated and another corrupted behind
// everyone's back, and the next run names exactly those two in
// steadyrest_scrub_findings, on /status (page and JSON) and in one WARN
// line each, while nothing in the folder changes. SIGTERM ends the server
// (and a run in progress) in time.
func TestBackgroundScrubFindsDamage(t *testing.T) {
	r := scrube2e.NewRepo(t)
	bin, err := e2e.BuildBinary(t.TempDir(), "./cmd/steadyrest")
	if err != nil {
		t.Fatal(err)
	}
	// No heartbeat: it is the one thing the server itself writes to the
	// remote, and the test proves the scrub writes nothing.
	srv := e2e.StartServer(t, e2e.SteadyrestSpec(bin, r.Dir, t.TempDir(), "--scrub-interval", "2s", "--heartbeat-interval", "0"))
	base := "http://" + srv.Addr

	runs := func(fams map[string]*dto.MetricFamily, outcome string) float64 {
		return metricSum(fams, "steadyrest_scrub_runs_total", map[string]string{"outcome": outcome})
	}
	fams := waitMetrics(t, base, func(f map[string]*dto.MetricFamily) bool { return runs(f, "clean") >= 1 })
	if n := metricSum(fams, "steadyrest_scrub_findings", map[string]string{"repo": "/"}); n != 0 {
		t.Errorf("undamaged repository: %v findings", n)
	}
	if n := metricSum(fams, "steadyrest_scrub_objects_checked", nil); n < 4 {
		t.Errorf("objects checked %v, want every object of the repository", n)
	}
	if started, first := logTime(t, srv.Log(), "steadyrest serving"), logTime(t, srv.Log(), "scrub finished"); first.Sub(started) < 2*time.Second {
		t.Errorf("first run ended %v after the start, want at least the interval (2s)", first.Sub(started))
	}

	r.Damage(t)
	before := scrube2e.TreeDigest(t, r.Dir)
	want := r.WantFindings("")
	// A run may have been under way while the packs were damaged: wait
	// for one that saw both.
	fams = waitMetrics(t, base, func(f map[string]*dto.MetricFamily) bool {
		return metricSum(f, "steadyrest_scrub_findings", map[string]string{"repo": "/"}) == float64(len(want))
	})
	for _, kind := range []string{"wrong-hash", "wrong-size", "empty-pack", "foreign", "stray"} {
		wantN := 0.0
		if kind == "wrong-hash" {
			wantN = float64(len(want))
		}
		if n := metricSum(fams, "steadyrest_scrub_findings", map[string]string{"repo": "/", "kind": kind}); n != wantN {
			t.Errorf("steadyrest_scrub_findings{repo=\"/\",kind=%q} = %v, want %v", kind, n, wantN)
		}
	}

	page := httpGet(t, base+"/status")
	for _, id := range []string{r.Truncated, r.Corrupted} {
		if p := "data/" + id[:2] + "/" + id; !strings.Contains(page, p) {
			t.Errorf("/status does not name the damaged pack %s", p)
		}
	}
	var js struct {
		Scrub struct {
			Outcome  string `json:"outcome"`
			Findings []struct {
				Kind string `json:"kind"`
				Path string `json:"path"`
			} `json:"findings"`
		} `json:"scrub"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, base+"/status?format=json")), &js); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range js.Scrub.Findings {
		got = append(got, f.Kind+" "+f.Path)
	}
	if js.Scrub.Outcome != "damaged" || !slices.Equal(got, want) {
		t.Errorf("/status JSON scrub: outcome %q, findings %q; want damaged, %q", js.Scrub.Outcome, got, want)
	}

	log := srv.Log()
	for _, id := range []string{r.Truncated, r.Corrupted} {
		re := regexp.MustCompile(`level=WARN msg="scrub: wrong-hash" job=scrub path=data/../` + id)
		if n, runs := len(re.FindAllString(log, -1)), strings.Count(log, "outcome=damaged"); n == 0 || n > runs+1 {
			t.Errorf("%d WARN lines for %s over %d damaged runs, want one per run", n, id, runs)
		}
	}
	// A run that started before the digest and ended after it counts too.
	waitMetrics(t, base, func(f map[string]*dto.MetricFamily) bool { return runs(f, "damaged") >= runs(fams, "damaged")+1 })
	if after := scrube2e.TreeDigest(t, r.Dir); !maps.Equal(before, after) {
		t.Errorf("the background scrub changed the remote folder")
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// waitMetrics scrapes /metrics until done holds, for at most a minute.
func waitMetrics(t *testing.T, base string, done func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(httpGet(t, base+"/metrics")))
		if err != nil {
			t.Fatalf("parse /metrics: %v", err)
		}
		if done(fams) {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background scrub did not get there within a minute")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metricSum adds the series of name whose labels include want.
func metricSum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	total := 0.0
series:
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue series
			}
		}
		total += m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return total
}

// logTime is the time of the first log line holding msg.
func logTime(t *testing.T, log, msg string) time.Time {
	t.Helper()
	m := regexp.MustCompile(`(?m)^time=(\S+) .*` + regexp.QuoteMeta(msg)).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no log line %q:\n%s", msg, log)
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatalf("log time %q: %v", m[1], err)
	}
	return at
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %s\n%s", url, err, resp.Status, b)
	}
	return string(b)
}
