package e2e

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// scrape fetches /metrics and parses it with the client library's text
// parser.
func scrape(t *testing.T, addr string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams, string(body)
}

// sum adds the values of the family's series whose labels include want.
func sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var total float64
	f := fams[name]
	if f == nil {
		return 0
	}
series:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// TestMetricsAfterResticBackup drives a real restic init and backup through
// steadyrest on a lagging remote and checks that a real scrape shows what
// happened: requests and bytes by type, remote calls, and the overlay at
// work (writes the remote did not list yet added to listings, the deleted
// lock's tombstone masking it).
func TestMetricsAfterResticBackup(t *testing.T) {
	if serverKind != "steadyrest" {
		t.Skip("steadyrest's /metrics: not served by " + serverKind)
	}
	dir := t.TempDir()
	srv := startServer(t, testutil.LagSpec(dir, "create_lag=2s", "delete_lag=2s"))
	before, _ := scrape(t, srv.Addr)

	r := NewRestic(t, DefaultRestic(t), srv.URL("metrics-repo"))
	src := t.TempDir()
	st := GenerateTree(t, src, TreeOptions{Seed: 7, BigFile: 2 << 20, Dirs: 2, FilesPerDir: 10})
	r.MustRun("init")
	r.MustRunIn(src, "backup", "--host", "e2e", ".")
	r.MustRun("snapshots")

	fams, text := scrape(t, srv.Addr)
	if testing.Verbose() || os.Getenv("E2E_SHOW_SCRAPE") != "" {
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "steadyrest_") && !strings.Contains(l, "_bucket{") {
				lines = append(lines, l)
			}
		}
		t.Logf("scrape after restic init+backup+snapshots (histogram buckets left out):\n%s", strings.Join(lines, "\n"))
	}
	moved := func(name string, labels map[string]string) float64 {
		return sum(fams, name, labels) - sum(before, name, labels)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"steadyrest_http_requests_total", map[string]string{"method": "POST", "type": "data", "code": "200"}, 1},
		{"steadyrest_http_requests_total", map[string]string{"method": "POST", "type": "locks", "code": "200"}, 2},
		{"steadyrest_http_requests_total", map[string]string{"method": "DELETE", "type": "locks", "code": "200"}, 2},
		{"steadyrest_http_requests_total", map[string]string{"method": "GET", "type": "snapshots", "code": "200"}, 1},
		{"steadyrest_http_request_duration_seconds", map[string]string{"method": "POST", "type": "data"}, 1},
		// The backup wrote at least the big file's bytes into data/.
		{"steadyrest_blob_written_bytes_total", map[string]string{"type": "data"}, float64(2 << 20)},
		{"steadyrest_blob_written_total", map[string]string{"type": "snapshots"}, 1},
		{"steadyrest_remote_operations_total", map[string]string{"op": "put", "result": "ok"}, 5},
		{"steadyrest_remote_operations_total", map[string]string{"op": "list", "result": "ok"}, 1},
		// With a 2 s create lag, restic's listings right after its own
		// writes (keys after init, snapshots) lack them: the overlay adds
		// them. Locks are written behind (--lock-upload-delay 5s): the
		// backup's lock, deleted within a second, never reaches the remote.
		{"steadyrest_overlay_events_total", map[string]string{"event": "added_missing_listing"}, 1},
		{"steadyrest_overlay_events_total", map[string]string{"event": "lock_deferred"}, 2},
		{"steadyrest_overlay_events_total", map[string]string{"event": "lock_never_uploaded"}, 2},
		{"steadyrest_overlay_events_total", map[string]string{"event": "read_from_overlay"}, 1},
	} {
		if got := moved(c.name, c.labels); got < c.min {
			t.Errorf("%s%v moved by %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}
	if got := sum(fams, "steadyrest_overlay_records", map[string]string{"state": "created"}); got < 1 {
		t.Errorf("steadyrest_overlay_records{state=created} = %v right after the backup, want >= 1 (the remote lags 2s)", got)
	}
	if sum(fams, "steadyrest_build_info", nil) != 1 || fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("build info, Go or process collectors missing from the scrape")
	}
	t.Logf("backed up %d files, %.1f MB", st.Files, float64(st.Bytes)/1e6)
}
