package consistency

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

const stormPlans = 15

var lockLoadRaceRE = regexp.MustCompile(`^Load\(<lock/[0-9a-f]+>, 0, 0\) failed: <lock/[0-9a-f]+> does not exist$`)

// runStormChecked runs a 15-plan storm on a fresh repository of srv and
// asserts the consistency contract as restic sees it: every command exits
// 0, prints only JSON lines, every plan has its (one) snapshot, and
// restic check passes.
func runStormChecked(t *testing.T, restic string, srv *e2e.Server, repo string, parallel, byTag bool) StormResult {
	t.Helper()
	ctx := context.Background()
	c := &StormConfig{
		Restic: restic, Repo: srv.URL(repo), WorkDir: t.TempDir(),
		Plans: stormPlans, Parallel: parallel, ScopeByTag: byTag,
		// 15 exclusive forgets at once: restic's lock retry backs off 5 s
		// doubling to 60 s, so one unlucky forget can wait minutes even on
		// a plain local folder (through rclone serve restic without any
		// lag, 4 of 15 did not get the lock within 5m). 10m keeps the
		// lottery out of the result.
		RetryLock: "10m",
		Stagger:   DefaultStagger,
		// Above --retry-lock, so restic gives up before we kill it.
		Timeout: 11 * time.Minute,
	}
	if err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}
	res := c.RunStorm(ctx)
	t.Logf("\n%s", res.Table())
	raced := 0
	for _, cr := range res.Commands {
		bad := cr.BadLines
		if parallel {
			// restic's own list-then-load race between concurrent
			// processes: A lists locks/, B removes its lock, A loads it.
			// It shows on a plain local folder without lag as well, so
			// it is not the remote's lag; anything else still fails.
			bad = nil
			for _, l := range cr.BadLines {
				if lockLoadRaceRE.MatchString(l) {
					raced++
					continue
				}
				bad = append(bad, l)
			}
		}
		if cr.Code != 0 || len(bad) > 0 {
			t.Errorf("%s %s: exit %d, non-JSON lines: %q\n%s", PlanName(cr.Plan), cr.Command, cr.Code, cr.BadLines, cr.Output)
		}
	}
	if raced > 0 {
		t.Logf("%d lines of restic's concurrent lock list/load race (Load(<lock/...>) failed: does not exist) tolerated in the parallel storm", raced)
	}
	if want := 2 * stormPlans; len(res.Commands) != want {
		t.Fatalf("%d commands ran, want %d", len(res.Commands), want)
	}
	snaps, err := c.Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perPlan := map[string]int{}
	for _, s := range snaps {
		if byTag {
			for _, tag := range s.Tags {
				perPlan[tag]++
			}
		} else {
			perPlan[s.Hostname]++
		}
	}
	for i := 0; i < stormPlans; i++ {
		// Each plan backed up once and kept the last one: exactly one.
		if n := perPlan[PlanName(i)]; n != 1 {
			t.Errorf("%s has %d snapshots after the storm, want 1 (all: %v)", PlanName(i), n, perPlan)
		}
	}
	code, out, err := c.Run(ctx, "check", "check")
	if err != nil || code != 0 || !strings.Contains(out, "no errors were found") {
		t.Errorf("restic check after the storm: exit %d (%v)\n%s", code, err, out)
	}
	return res
}

// TestStorm is the "4am storm" of issue 3: 15 plans on one repository on a
// remote with 3s create and delete lag, back to back, then back to back
// without lag for the ratio.
func TestStorm(t *testing.T) {
	restic := e2e.DefaultRestic(t)
	srv := startSteadyrest(t, testutil.LagSpec(t.TempDir(), "create_lag=3s", "delete_lag=3s"))
	var seq, noLag time.Duration
	t.Run("lag-back-to-back", func(t *testing.T) {
		seq = runStormChecked(t, restic, srv, "storm-seq", false, false).Wall
	})
	t.Run("nolag-back-to-back", func(t *testing.T) {
		fast := startSteadyrest(t, testutil.LagSpec(t.TempDir(), "create_lag=0", "delete_lag=0"))
		noLag = runStormChecked(t, restic, fast, "storm-seq", false, false).Wall
	})
	if seq == 0 || noLag == 0 {
		return // a subtest failed already
	}
	t.Logf("storm of %d plans back to back: with 3s lag %v, without lag %v; lag/no-lag = %.2f",
		stormPlans, seq.Round(time.Millisecond), noLag.Round(time.Millisecond), seq.Seconds()/noLag.Seconds())
	// The goal is lag/no-lag <= 1.2, which bench/ measures (storm
	// scenario). Here the two runs can meet very different load on a
	// shared machine (CI run 12, with other storms beside it: 1.81), hence
	// a loose bound; it still fails a server that waits out the remote's
	// lag once per command (30 x 3s more).
	if limit := time.Duration(1.5*float64(noLag)) + stormSlack; seq > limit {
		t.Errorf("storm with 3s lag took %v, over 1.5 x %v without lag + %v: the lag costs the plans time", seq.Round(time.Millisecond), noLag.Round(time.Millisecond), stormSlack)
	}
}

// stormSlack is what TestStorm allows above 1.5 x the storm without lag, for noise.
const stormSlack = 30 * time.Second

// TestStormParallel runs all 15 plans at once with --retry-lock 10m, their
// starts 1.5 s apart (StormConfig.Stagger says why) (tags
// scope the plans). Most of its time is restic waiting for the exclusive
// locks of the 15 forgets (its retry backs off 5s doubling to 60s), with
// little CPU, so it runs in parallel with the other tests.
func TestStormParallel(t *testing.T) {
	t.Parallel()
	restic := e2e.DefaultRestic(t)
	srv := startSteadyrest(t, testutil.LagSpec(t.TempDir(), "create_lag=3s", "delete_lag=3s"))
	res := runStormChecked(t, restic, srv, "storm-par", true, true)
	t.Logf("storm of %d plans all at once with 3s lag: %v", stormPlans, res.Wall.Round(time.Millisecond))
}
