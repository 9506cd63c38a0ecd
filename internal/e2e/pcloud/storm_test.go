package pcloud

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

const stormPlans = 15

// stormPass runs one storm on an initialised repository and fails the test
// unless every command exited 0 and printed only JSON, but for the lines
// classify allows (retries after a 503, locks deleted by their owner
// between restic's list and load); those are returned for checking
// against the server's log.
func stormPass(t *testing.T, c *consistency.StormConfig) (consistency.StormResult, lineStats) {
	t.Helper()
	res := c.RunStorm(context.Background())
	t.Logf("\n%s", res.Table())
	for _, cr := range res.Commands {
		if cr.Code != 0 {
			t.Errorf("%s %s: exit %d, %d non-JSON lines: %q\n%s",
				consistency.PlanName(cr.Plan), cr.Command, cr.Code, cr.Warnings, cr.BadLines, cr.Output)
		}
	}
	if want := 2 * c.Plans; len(res.Commands) != want {
		t.Fatalf("%d commands ran, want %d", len(res.Commands), want)
	}
	st := classify(res)
	for _, l := range st.other {
		t.Errorf("non-JSON line that means trouble: %s", l)
	}
	t.Logf("non-JSON lines: %d retries after a 503, %d recoveries, %d locks deleted by their owner between list and load, %d others",
		st.retries, st.recovered, len(st.lockGone), len(st.other))
	return res, st
}

// latestPerPlan fails the test unless every plan has exactly one snapshot
// and it was taken after since; it returns the snapshots by plan.
func latestPerPlan(t *testing.T, c *consistency.StormConfig, since time.Time) map[string]consistency.Snapshot {
	t.Helper()
	snaps, err := c.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byPlan := map[string][]consistency.Snapshot{}
	for _, s := range snaps {
		byPlan[s.Hostname] = append(byPlan[s.Hostname], s)
	}
	out := map[string]consistency.Snapshot{}
	for i := 0; i < c.Plans; i++ {
		name := consistency.PlanName(i)
		got := byPlan[name]
		if len(got) != 1 {
			t.Errorf("%s has %d snapshots, want 1", name, len(got))
			continue
		}
		if got[0].Time.Before(since) {
			t.Errorf("%s kept snapshot %s of %v, older than this storm (%v): forget kept the wrong one",
				name, got[0].ID, got[0].Time, since)
		}
		out[name] = got[0]
	}
	if len(snaps) != c.Plans {
		t.Errorf("%d snapshots in the repository, want %d", len(snaps), c.Plans)
	}
	return out
}

// TestStormSteadyrest is issue 5's main test: restic 0.19.1 -> steadyrest ->
// rclone's pcloud backend -> the emulator with listing lag, refused fresh
// deletes and links, injected 5000/4000 answers and latency. The 15-plan
// storm runs back to back, then (on new data, so that forget drops the
// first generation and prune has packs to delete) all at once with
// --retry-lock, starts staggered by consistency.DefaultStagger. Every command must exit 0
// and print only JSON, but for retries after a 503 (an injected upload
// error rclone does not retry) and locks their owner deleted between
// restic's list and load; the request log must show no 404 between an
// acknowledged write and a delete. Then prune, check --read-data and a
// restore compared byte for byte show nothing was lost.
func TestStormSteadyrest(t *testing.T) {
	t.Parallel()
	restic := e2e.DefaultRestic(t)
	emu := e2e.StartEmulator(t, pcloudKnobs())
	srv := startSteadyrest(t, emu, "steadyrest", true)
	ctx := context.Background()

	work := t.TempDir()
	c := &consistency.StormConfig{
		Restic: restic, Repo: srv.URL("storm"), WorkDir: work,
		Plans: stormPlans, Timeout: 2 * time.Minute, Logf: t.Logf,
	}
	if err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	// No pause after init: "wrong password or no key found" right after
	// init is one of the failures steadyrest has to prevent.
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	seq, seqLines := stormPass(t, c)
	latestPerPlan(t, c, start)

	// Second generation of every plan's data, then the storm all at once.
	for i := 0; i < stormPlans; i++ {
		if err := consistency.GenerateFiles(c.PlanDir(i), uint64(1000+i), c.Files, c.FileSize); err != nil {
			t.Fatal(err)
		}
	}
	c.Parallel = true
	c.Stagger = consistency.DefaultStagger
	c.Timeout = 3 * time.Minute
	start = time.Now()
	par, parLines := stormPass(t, c)
	kept := latestPerPlan(t, c, start)
	if t.Failed() {
		t.FailNow()
	}

	code, out, err := c.Run(ctx, "prune", "prune")
	if err != nil || code != 0 {
		t.Fatalf("restic prune: exit %d (%v)\n%s", code, err, out)
	}
	// 15 first-generation snapshots were forgotten: prune must have found
	// their data unreferenced and removed it.
	if !strings.Contains(out, "to delete") && !strings.Contains(out, "deleting") && !strings.Contains(out, "remove") {
		t.Errorf("restic prune removed nothing after 15 snapshots were forgotten:\n%s", out)
	}
	t.Logf("prune:\n%s", out)

	code, out, err = c.Run(ctx, "check", "check", "--read-data")
	if err != nil || code != 0 || !strings.Contains(out, "no errors were found") {
		t.Fatalf("restic check --read-data after storm and prune: exit %d (%v)\n%s", code, err, out)
	}

	// Restore one plan (its latest snapshot, taken in the parallel storm)
	// and compare it with the second-generation source.
	plan := 7
	snap := kept[consistency.PlanName(plan)]
	dst := t.TempDir()
	code, out, err = c.Run(ctx, "restore", "restore", snap.ID, "--target", dst)
	if err != nil || code != 0 {
		t.Fatalf("restic restore %s: exit %d (%v)\n%s", snap.ID, code, err, out)
	}
	e2e.CompareTrees(t, c.PlanDir(plan), filepath.Join(dst, c.PlanDir(plan)))

	// Every lock was removed, as restic sees it.
	code, out, err = c.Run(ctx, "locks", "list", "locks", "--no-lock")
	if err != nil || code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("restic list locks after the storm: exit %d (%v), want none:\n%s", code, err, out)
	}

	// The server's request log shows the contract held for every object
	// (no 404 between an acknowledged write and a delete), and every lock
	// restic could not load had been deleted by a client.
	reqs, err := e2e.ObjectRequests(srv.Log(), "storm")
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) < 100 {
		t.Fatalf("parsed requests on only %d objects from steadyrest's request log: is the log format still the one e2e.ObjectRequests expects?", len(reqs))
	}
	for _, v := range e2e.ReadYourWritesViolations(reqs) {
		t.Errorf("read your writes violated: %s", v)
	}
	gone := map[string]int{}
	for p, n := range seqLines.lockGone {
		gone[p] += n
	}
	for p, n := range parLines.lockGone {
		gone[p] += n
	}
	for _, v := range checkLockGone(reqs, gone) {
		t.Errorf("%s", v)
	}
	t.Logf("request log: %d objects checked for read-your-writes, %d vanished locks checked", len(reqs), len(gone))

	sOK, _, _, sWL := seq.Summary()
	pOK, _, _, pWL := par.Summary()
	t.Logf("steadyrest on the pcloud emulator: back to back %d/%d ok, %d warning lines, wall %v; parallel %d/%d ok, %d warning lines, wall %v",
		sOK, len(seq.Commands), sWL, seq.Wall.Round(time.Millisecond), pOK, len(par.Commands), pWL, par.Wall.Round(time.Millisecond))
}
