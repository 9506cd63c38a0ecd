package shared

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

// ackedAt finds when an instance answered 200 to the POST of path (e.g.
// /storm/config) in its request log: the time of its first such line.
func ackedAt(t *testing.T, log, pathRE string) time.Time {
	t.Helper()
	re := regexp.MustCompile(`(?m)^time=(\S+) level=INFO msg=request method=POST path=` + pathRE + ` status=200 `)
	m := re.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no answered POST of %s in the instance's request log", pathRE)
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatalf("request log time %q: %v", m[1], err)
	}
	return at
}

// uploadMargin bounds the time from an upload reaching the remote to
// steadyrest answering its POST (the remote's lag counts from the first).
const uploadMargin = 500 * time.Millisecond

// TestNoSharedOverlayFails is the contrast to TestSharedOverlay: two
// instances in front of one repository on the lagging remote, each with
// only its own overlay, plans alternating between them. It asserts the
// failures of issue 12, so the shared overlay's tests prove what it buys.
//
// Measured here (15 plans back to back, commands capped at 40 s): plan 0
// and plan 2, through the instance that did not run init, exit 10 (no
// repository); three backups retry a 503 on Load(<lock/...>) until the
// cap; from plan 8 on every forget exits 11 (a lock left behind); 16 of
// 30 commands ok in 139 s; one instance sees 9 snapshots, the other 10;
// check exits 11. Of these, only the two below are sure to happen: they
// need nothing but a restic command that reads through one instance,
// within the remote's lag, what was written through the other. The rest
// depends on when a lock's delete and the next command's listing meet, so
// the whole storm (minutes) is not run.
func TestNoSharedOverlayFails(t *testing.T) {
	restic := e2e.DefaultRestic(t)
	opt := LaggingPcloud()
	lag := opt.ListLag
	emu := e2e.StartEmulator(t, opt)
	cl := StartCluster(t, ClusterOptions{Bin: steadyrestBin, N: 2, Emulator: emu, Path: "alone", RequestLog: true})

	t.Run("right-after-init", func(t *testing.T) {
		c := newStorm(t, restic, cl.Repo(0, "storm"))
		// Plan 0 goes through the instance that did not run init.
		c.PlanRepo = func(i int) string { return cl.Repo((i+1)%2, "storm") }
		// Without a shared overlay restic can retry for minutes.
		c.Timeout = 40 * time.Second
		ctx := context.Background()
		if err := c.Init(ctx); err != nil {
			t.Fatal(err)
		}
		res := c.RunPlan(ctx, 0)
		t.Logf("\n%s", consistency.StormResult{Plans: 1, Commands: res}.Table())
		backup := res[0]
		// The remote hides the config and key written through instance
		// 0 for lag after their upload, which came a few milliseconds
		// before the POST was answered: the backup's reads fall inside
		// that window if it ended within lag (less a margin for that) of
		// the answer. Measured: 0.1-0.3 s after, on a loaded machine.
		configAcked := ackedAt(t, cl.Instances[0].Log(), `/storm/config`)
		took := backup.Start.Add(backup.Duration).Sub(configAcked)
		if took > lag-uploadMargin {
			t.Fatalf("plan00's backup ended %v after the config was written, too close to the remote's %v lag to show anything (machine too slow?)", took.Round(time.Millisecond), lag)
		}
		// 10: no repository (config not found), 12: wrong password or
		// no key found (the key not listed), as users report.
		if backup.Code != 10 && backup.Code != 12 {
			t.Errorf("plan00's backup through the other instance, %v after init wrote the config, exited %d; want 10 (no repository) or 12 (no key found):\n%s",
				took.Round(time.Millisecond), backup.Code, backup.Output)
		} else {
			t.Logf("plan00's backup through the other instance, %v after init wrote the config, failed as issue 12 reports: exit %d: %s",
				took.Round(time.Millisecond), backup.Code, strings.TrimSpace(backup.Output))
		}
	})

	t.Run("snapshot-missing-from-other-view", func(t *testing.T) {
		c := newStorm(t, restic, cl.Repo(0, "view"))
		ctx := context.Background()
		if err := c.Init(ctx); err != nil {
			t.Fatal(err)
		}
		// Let the remote show the repository to both instances.
		time.Sleep(lag + time.Second)
		backup, _ := c.PlanArgs(1)
		code, out, err := c.RunOn(ctx, cl.Repo(0, "view"), consistency.PlanName(1), backup...)
		if err != nil || code != 0 {
			t.Fatalf("backup through instance 0: exit %d (%v)\n%s", code, err, out)
		}
		snaps, err := c.SnapshotsOn(ctx, cl.Repo(1, "view"))
		listed := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		acked := ackedAt(t, cl.Instances[0].Log(), `/view/snapshots/[0-9a-f]{64}`)
		// Measured: 0.8 s after, on a loaded machine.
		if took := listed.Sub(acked); took > lag-uploadMargin {
			t.Fatalf("snapshots ended %v after the snapshot was written, too close to the remote's %v lag to show anything (machine too slow?)", took.Round(time.Millisecond), lag)
		}
		if len(snaps) != 0 {
			t.Errorf("instance 1 lists %d snapshots right after a backup through instance 0 wrote one; without a shared overlay the remote's lag should hide it: %+v", len(snaps), snaps)
		} else {
			t.Logf("the snapshot written through instance 0 is missing from instance 1's view %v later, as issue 12 reports", listed.Sub(acked).Round(time.Millisecond))
		}
	})

	t.Run("linearizability", func(t *testing.T) {
		hist := consistency.RecordLockHistory(t, consistency.LinConfig{
			Bases: cl.Bases("lin"), Clients: 6, Keys: 3, OpsPerClient: 60, Duration: 6 * time.Second,
		})
		res := consistency.CheckLockHistory(t, "no-shared-overlay", hist, false)
		if res != porcupine.Illegal {
			t.Fatalf("history of %d lock operations spread over two instances without a shared overlay: porcupine says %v, want Illegal (not linearizable)", len(hist), res)
		}
		t.Logf("%d lock operations spread over two instances without a shared overlay: not linearizable, as expected", len(hist))
	})
}
