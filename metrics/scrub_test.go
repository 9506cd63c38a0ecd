package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/scrub"
)

const (
	mScrubRuns     = "steadyrest_scrub_runs_total"
	mScrubLastRun  = "steadyrest_scrub_last_run_timestamp_seconds"
	mScrubObjects  = "steadyrest_scrub_objects_checked"
	mScrubUnverif  = "steadyrest_scrub_unverified"
	mScrubFindings = "steadyrest_scrub_findings"
)

// TestScrubMetrics: absent before the first run; a damaged run names its
// findings by repository and kind, with 0 for the clean kinds and
// repositories; the next clean run brings them back to 0.
func TestScrubMetrics(t *testing.T) {
	m, srv := setup(t)
	fams, _ := scrape(t, srv, "")
	for _, name := range []string{mScrubRuns, mScrubLastRun, mScrubObjects, mScrubFindings} {
		if fams[name] != nil {
			t.Errorf("%s present before any scrub ran", name)
		}
	}

	end := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	m.ObserveScrub(&scrub.Report{
		Repositories: []string{"alice", "bob"}, Objects: 40, Unverified: 3, Outcome: scrub.Damaged,
		Findings: []scrub.Finding{
			{Kind: scrub.WrongHash, Repository: "alice", Path: "alice/data/aa/aa…"},
			{Kind: scrub.WrongHash, Repository: "alice", Path: "alice/data/bb/bb…"},
			{Kind: scrub.Stray, Repository: "alice", Path: "alice/notes.txt"},
		},
	}, end)
	fams, _ = scrape(t, srv, "")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{mScrubLastRun, nil, float64(end.Unix())},
		{mScrubObjects, nil, 40},
		{mScrubUnverif, nil, 3},
		{mScrubRuns, map[string]string{"outcome": "damaged"}, 1},
		{mScrubRuns, map[string]string{"outcome": "clean"}, 0},
		{mScrubFindings, map[string]string{"repo": "/alice", "kind": "wrong-hash"}, 2},
		{mScrubFindings, map[string]string{"repo": "/alice", "kind": "stray"}, 1},
		{mScrubFindings, map[string]string{"repo": "/alice", "kind": "empty-pack"}, 0},
		{mScrubFindings, map[string]string{"repo": "/bob", "kind": "wrong-hash"}, 0},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	m.ObserveScrub(&scrub.Report{Repositories: []string{"alice", "bob"}, Objects: 41, Outcome: scrub.Clean}, end.Add(time.Hour))
	fams, _ = scrape(t, srv, "")
	if got := value(t, fams, mScrubFindings, map[string]string{"repo": "/alice", "kind": "wrong-hash"}); got != 0 {
		t.Errorf("after a clean run, wrong-hash findings of /alice = %v, want 0", got)
	}
	if got := value(t, fams, mScrubRuns, map[string]string{"outcome": "clean"}); got != 1 {
		t.Errorf("clean runs = %v, want 1", got)
	}
}

// TestScrubFindingsLabelIsBounded: a remote holding more repositories than
// the cap gets no more repo label values than the cap plus "other", where
// the rest's findings add up.
func TestScrubFindingsLabelIsBounded(t *testing.T) {
	m, srv := setup(t)
	rep := &scrub.Report{Outcome: scrub.Damaged}
	for i := range MaxRepos + 50 {
		r := fmt.Sprintf("r%03d", i)
		rep.Repositories = append(rep.Repositories, r)
		rep.Findings = append(rep.Findings, scrub.Finding{Kind: scrub.EmptyPack, Repository: r, Path: r + "/data/00/00"})
	}
	m.ObserveScrub(rep, time.Now())
	fams, _ := scrape(t, srv, "")
	repos := map[string]bool{}
	for _, mt := range fams[mScrubFindings].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "repo" {
				repos[l.GetValue()] = true
			}
		}
	}
	if len(repos) != MaxRepos+1 || !repos[other] {
		t.Errorf("%d repo label values (other: %v), want %d and other", len(repos), repos[other], MaxRepos+1)
	}
	if got := value(t, fams, mScrubFindings, map[string]string{"repo": other, "kind": "empty-pack"}); got != 50 {
		t.Errorf("findings under other = %v, want 50", got)
	}
}
