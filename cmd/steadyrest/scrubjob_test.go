package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	scrube2e "github.com/steadyrest/steadyrest/internal/e2e/scrub"
	"github.com/steadyrest/steadyrest/internal/testutil"
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
	bin := builtBinary(t)
	// No heartbeat: it is the one thing the server itself writes to the
	// remote, and the test proves the scrub writes nothing.
	srv := e2e.StartServer(t, e2e.SteadyrestSpec(bin, r.Dir, t.TempDir(), "--scrub-interval", "2s", "--heartbeat-interval", "0"))
	base := "http://" + srv.Addr

	runs := func(m map[string]float64, outcome string) float64 {
		return m[`steadyrest_scrub_runs_total{outcome="`+outcome+`"}`]
	}
	findings := func(m map[string]float64, kind string) float64 {
		return m[`steadyrest_scrub_findings{kind="`+kind+`",repo="/"}`]
	}
	kinds := []string{"wrong-hash", "wrong-size", "empty-pack", "foreign", "stray"}
	m := waitMetrics(t, base, func(m map[string]float64) bool { return runs(m, "clean") >= 1 })
	for _, kind := range kinds {
		if n, ok := m[`steadyrest_scrub_findings{kind="`+kind+`",repo="/"}`]; !ok || n != 0 {
			t.Errorf("undamaged repository: %s findings %v (exported: %v), want 0", kind, n, ok)
		}
	}
	if n := m["steadyrest_scrub_objects_checked"]; n < 4 {
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
	m = waitMetrics(t, base, func(m map[string]float64) bool { return findings(m, "wrong-hash") == float64(len(want)) })
	for _, kind := range kinds[1:] {
		if n := findings(m, kind); n != 0 {
			t.Errorf("steadyrest_scrub_findings{repo=\"/\",kind=%q} = %v, want 0", kind, n)
		}
	}
	if runs(m, "damaged") < 1 {
		t.Errorf("no run counted as damaged")
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
		if n, damaged := len(re.FindAllString(log, -1)), strings.Count(log, "outcome=damaged"); n == 0 || n > damaged+1 {
			t.Errorf("%d WARN lines for %s over %d damaged runs, want one per run", n, id, damaged)
		}
	}
	// A run that started before the digest and ended after it counts too.
	waitMetrics(t, base, func(n map[string]float64) bool { return runs(n, "damaged") >= runs(m, "damaged")+1 })
	if after := scrube2e.TreeDigest(t, r.Dir); !maps.Equal(before, after) {
		t.Errorf("the background scrub changed the remote folder")
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// TestBackgroundScrubStopsAtShutdown: SIGTERM during a run (over a
// remote that takes 2 s per call) cuts the run instead of waiting for it,
// and the cut run is not reported as finished.
func TestBackgroundScrubStopsAtShutdown(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"config", "keys/" + strings.Repeat("1", 64), "data/00/" + strings.Repeat("0", 64)} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("not restic's, and that does not matter here"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	spec := e2e.SteadyrestSpec(builtBinary(t), testutil.LagSpec(dir, "latency=2s"), t.TempDir(),
		"--scrub-interval", "500ms", "--heartbeat-interval", "0")
	spec.StopTimeout = time.Minute // the log, not the clock, tells whether the run was cut
	srv := e2e.StartServer(t, spec)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(httpGet(t, "http://"+srv.Addr+"/status?format=json"), `"running": true`) {
		if time.Now().After(deadline) {
			t.Fatal("no scrub run started within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if log := srv.Log(); !strings.Contains(log, "scrub stopped by the shutdown") || strings.Contains(log, "scrub finished") {
		t.Errorf("the run in progress at the shutdown was not cut:\n%s", log)
	}
}

// builtBinary builds cmd/steadyrest for one test.
func builtBinary(t *testing.T) string {
	t.Helper()
	bin, err := e2e.BuildBinary(t.TempDir(), "./cmd/steadyrest")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// waitMetrics scrapes /metrics until done holds, for at most a minute,
// and returns the scrape: each series as exposed, name{labels}, to its
// value.
func waitMetrics(t *testing.T, base string, done func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		m := map[string]float64{}
		for _, line := range strings.Split(httpGet(t, base+"/metrics"), "\n") {
			series, val, ok := strings.Cut(line, " ")
			if v, err := strconv.ParseFloat(val, 64); ok && err == nil && !strings.HasPrefix(line, "#") {
				m[series] = v
			}
		}
		if done(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background scrub did not get there within a minute")
		}
		time.Sleep(200 * time.Millisecond)
	}
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
