package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

// storm: back-to-back plans on a lagging remote and on the same remote
// without lag.
func (b *bench) storm(ctx context.Context) error {
	remotes := []struct{ name, opts string }{
		{"lag 3s", ",create_lag=3s,delete_lag=3s"},
		{"no lag", ""},
	}
	for round := 1; round <= b.c.stormRounds; round++ {
		for _, rm := range remotes {
			for _, kind := range kinds {
				dir, err := b.roundDir("storm-"+strings.ReplaceAll(rm.name, " ", ""), kind, round)
				if err != nil {
					return err
				}
				remote := fmt.Sprintf(":lag,remote=%q%s:", filepath.Join(dir, "remote"), rm.opts)
				err = withServer(b.spec(kind, remote, filepath.Join(dir, "state"), ""), func(srv *e2e.Server) error {
					sc := consistency.StormConfig{Restic: b.c.restic, Repo: srv.URL("storm"), WorkDir: filepath.Join(dir, "work"),
						Plans: b.c.plans, Timeout: 10 * time.Minute,
						Logf: func(f string, a ...any) { logf("    "+f, a...) }}
					if err := sc.Prepare(); err != nil {
						return err
					}
					if err := sc.Init(ctx); err != nil {
						return err
					}
					// Let the init settle on the lagging remote, as a user's
					// first scheduled run would.
					time.Sleep(4 * time.Second)
					res := sc.RunStorm(ctx)
					ok, exit0, withWarn, lines := res.Summary()
					metric := fmt.Sprintf("storm %d plans, %s", b.c.plans, rm.name)
					b.res.add(sample{Scenario: "storm", Metric: metric, Unit: "s", Server: kind, Round: round, Value: res.Wall.Seconds(),
						Note: fmt.Sprintf("%d/%d commands ok (exit 0 + JSON only), %d exit 0, %d with warnings, %d warning lines", ok, len(res.Commands), exit0, withWarn, lines)})
					b.res.add(sample{Scenario: "storm", Metric: metric + ", commands not ok", Unit: "count", Server: kind, Round: round, Value: float64(len(res.Commands) - ok)})
					return nil
				})
				if err != nil {
					return fmt.Errorf("%s %s round %d: %w", kind, rm.name, round, err)
				}
			}
		}
	}
	b.res.note("storm: each plan is `backup --json --host planNN` of 4 x 4 KiB then `forget --json --keep-last 1 --host planNN --group-by host`, back to back (internal/e2e/consistency runner); 'not ok' = exit code != 0 or output that is not JSON only.")
	return nil
}
