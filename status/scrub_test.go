package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestScrubSection: off, the page has no scrub section and the JSON no
// scrub; before the first run it says when that comes; after a damaged
// run it names the outcome and each damaged file, HTML-escaped.
func TestScrubSection(t *testing.T) {
	rec, _ := fixture(t)
	if body := get(t, Handler(rec, info, records, nil), "/status").Body.String(); strings.Contains(body, `id="scrub"`) {
		t.Error("scrub section shown while the scrub is off")
	}
	if body := get(t, Handler(rec, info, records, nil), "/status?format=json").Body.String(); strings.Contains(body, `"scrub"`) {
		t.Errorf("scrub in the JSON while the scrub is off: %s", body)
	}

	var sc Scrub
	on := info
	on.Scrub = func() Scrub { return sc }
	sc = Scrub{Interval: Seconds(24 * time.Hour)}
	if body := get(t, Handler(rec, on, records, nil), "/status").Body.String(); !strings.Contains(body, "No run yet: the first runs 24h0m0s after the start.") {
		t.Errorf("before the first run the page lacks when it comes:\n%s", body)
	}

	at := time.Date(2026, 12, 1, 3, 50, 0, 0, time.UTC)
	sc = Scrub{Interval: Seconds(24 * time.Hour), LastRun: &at, Duration: Seconds(1500 * time.Millisecond), Outcome: "damaged",
		Repositories: 1, Objects: 13, FindingCount: 2, Findings: []ScrubFinding{
			{Kind: "wrong-hash", Path: "alice/data/31/31f5", Detail: "the content's SHA-256 is not the file's name"},
			{Kind: "foreign", Path: "alice/data/<b>x</b>", Detail: "a partial upload"},
		}}
	body := get(t, Handler(rec, on, records, nil), "/status").Body.String()
	for _, want := range []string{
		`<div id="scrub">`, "2026-12-01 03:50:00 UTC (10m0s ago, took 1.5s)", "damaged", "13 object(s) in 1 repository(ies)",
		`<td class="state-lapsed">wrong-hash</td><td class="err">alice/data/31/31f5</td>`,
		"alice/data/&lt;b&gt;x&lt;/b&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>x</b>") {
		t.Error("a file name reached the page unescaped")
	}
	var got struct {
		Scrub struct {
			Outcome      string         `json:"outcome"`
			FindingCount int            `json:"finding_count"`
			Findings     []ScrubFinding `json:"findings"`
		} `json:"scrub"`
	}
	if err := json.Unmarshal(get(t, Handler(rec, on, records, nil), "/status?format=json").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Scrub.Outcome != "damaged" || got.Scrub.FindingCount != 2 || len(got.Scrub.Findings) != 2 || got.Scrub.Findings[0].Path != "alice/data/31/31f5" {
		t.Errorf("JSON scrub %+v", got.Scrub)
	}
}
