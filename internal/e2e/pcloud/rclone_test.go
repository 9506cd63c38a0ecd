package pcloud

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

// Bounds of the storm through rclone serve restic: restic retries a failed
// lock removal for minutes, so every command is capped, and so is the whole
// storm (commands still to run when it ends count as failed, exit -1).
const (
	rclonePlans      = 5
	rcloneCmdTimeout = 40 * time.Second
	rcloneStormLimit = 100 * time.Second
)

// TestStormRcloneServeRestic runs the same storm (fewer plans, back to
// back) through rclone serve restic, rclone v1.76.0's own CLI, on a fresh
// emulator with the same knobs, and asserts what users report: at least
// one command prints a line that is not JSON (Remove(<lock/...>) returned
// error, retrying ...) or fails. It is the contrast to TestStormSteadyrest:
// same restic, same rclone pcloud backend, same emulator behaviour.
func TestStormRcloneServeRestic(t *testing.T) {
	t.Parallel()
	restic := e2e.DefaultRestic(t)
	emu := e2e.StartEmulator(t, pcloudKnobs())
	srv := startRclone(t, emu, "rclone")

	ctx, cancel := context.WithTimeout(context.Background(), rcloneStormLimit)
	defer cancel()
	c := &consistency.StormConfig{
		Restic: restic, Repo: srv.URL("storm"), WorkDir: t.TempDir(),
		Plans: rclonePlans, Timeout: rcloneCmdTimeout, Logf: t.Logf,
	}
	if err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	// init runs under a longer listing lag, so that the probe right after
	// it looks inside the lag even on a loaded machine; the storm runs
	// with the usual knobs once that lag is waited out.
	slow := pcloudKnobs()
	slow.ListLag = initLag
	emu.SetOptions(slow)
	initStart := time.Now()
	if err := c.Init(ctx); err != nil {
		t.Fatalf("restic init through rclone serve restic: %v", err)
	}
	initEnd := time.Now()
	checkUnusableAfterInit(t, c, initStart)
	emu.SetOptions(pcloudKnobs())
	time.Sleep(time.Until(initEnd.Add(initLag + time.Second)))
	res := c.RunStorm(ctx)
	t.Logf("\n%s", res.Table())
	ok, exit0, withWarnings, warningLines := res.Summary()
	for _, cr := range res.Commands {
		if !cr.OK() {
			t.Logf("%s %s: exit %d, non-JSON lines: %q, output: %.200s", consistency.PlanName(cr.Plan), cr.Command, cr.Code,
				first(cr.BadLines, 4), strings.TrimSpace(cr.Output))
		}
	}
	t.Logf("rclone serve restic on the pcloud emulator: %d/%d commands ok, %d exit 0, %d with warning lines (%d lines), wall %v",
		ok, len(res.Commands), exit0, withWarnings, warningLines, res.Wall.Round(time.Millisecond))
	if len(res.Commands) != 2*rclonePlans {
		t.Fatalf("%d commands ran, want %d", len(res.Commands), 2*rclonePlans)
	}
	if ok == len(res.Commands) {
		t.Errorf("every command through rclone serve restic exited 0 with JSON only: the emulator's knobs no longer reproduce the reported behaviour (emulator stats %+v)", emu.Stats())
	}
}

// initLag is the emulator's listing lag while restic init runs.
const initLag = 10 * time.Second

// checkUnusableAfterInit runs restic snapshots right after init through
// rclone serve restic. The new key and config were written after
// initStart and stay missing from the remote's listings and lookups for
// initLag, so the command fails as users report: "wrong password or no key
// found" (exit 12), or no repository found (exit 10).
func checkUnusableAfterInit(t *testing.T, c *consistency.StormConfig, initStart time.Time) {
	t.Helper()
	code, out, err := c.Run(context.Background(), "probe", "snapshots", "--json")
	after := time.Since(initStart)
	t.Logf("restic snapshots %v after init started, through rclone serve restic: exit %d (%v): %s",
		after.Round(time.Millisecond), code, err, strings.TrimSpace(out))
	if after >= initLag {
		t.Errorf("init and snapshots took %v, not inside the %v listing lag: the check would prove nothing", after.Round(time.Millisecond), initLag)
		return
	}
	if code != 12 && code != 10 {
		t.Errorf("restic snapshots right after init: exit %d, want 12 (no key found) or 10 (no repository)\n%s", code, out)
	}
}

// first returns at most n elements of s.
func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
