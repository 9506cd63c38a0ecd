package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

// farBase builds, once, a repository with n snapshots of a small source
// folder, through restic's own local backend (neutral to both servers),
// plus the restic cache that goes with it.
func (b *bench) farBase(ctx context.Context) (base string, err error) {
	base = filepath.Join(b.c.work, fmt.Sprintf("far-base-%d", b.c.snapshots))
	marker := filepath.Join(base, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return base, nil
	}
	if err := os.RemoveAll(base); err != nil {
		return "", fmt.Errorf("clean %s: %w", base, err)
	}
	src := filepath.Join(base, "src")
	if err := consistency.GenerateFiles(src, 7, 50, 16<<10); err != nil {
		return "", err
	}
	repo := filepath.Join(base, "remote", "repo")
	cache := filepath.Join(base, "cache")
	if _, _, err := b.r.run(ctx, repo, cache, "init"); err != nil {
		return "", err
	}
	logf("building a repository with %d snapshots (once) in %s", b.c.snapshots, base)
	for i := 0; i < b.c.snapshots; i++ {
		// One changed file per snapshot, so each snapshot is distinct.
		if err := consistency.GenerateFiles(filepath.Join(src, "changing"), uint64(1000+i), 1, 1<<10); err != nil {
			return "", err
		}
		if _, _, err := b.r.run(ctx, repo, cache, "backup", "-q", src); err != nil {
			return "", err
		}
		if (i+1)%50 == 0 {
			logf("  %d snapshots", i+1)
		}
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return "", fmt.Errorf("write marker: %w", err)
	}
	return base, nil
}

// callCounter reads how many remote calls a server has made so far, in
// total and by kind.
type callCounter func() (float64, map[string]float64, error)

// breakdown formats the per-kind difference between two counter readings.
func breakdown(before, after map[string]float64) string {
	var parts []string
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			parts = append(parts, fmt.Sprintf("%s=%g", k, d))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// steadyCalls sums steadyrest_remote_operations_total over all labels.
func steadyCalls(addr string) callCounter {
	return func() (float64, map[string]float64, error) {
		return metricSum(addr, "steadyrest_remote_operations_total")
	}
}

// rcloneCalls reads the lag counters rclone-lag-stats writes.
func rcloneCalls(file string) callCounter {
	return func() (float64, map[string]float64, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return 0, nil, fmt.Errorf("lag stats: %w", err)
		}
		by := map[string]float64{}
		if err := json.Unmarshal(b, &by); err != nil {
			return 0, nil, fmt.Errorf("lag stats: %w", err)
		}
		total := by["Calls"]
		for _, k := range []string{"Calls", "Injected", "MidPut", "MidGet", "Denied", "OverQuota", "LagNotFound", "LagHidden"} {
			delete(by, k)
		}
		return total, by, nil
	}
}

// farCloud: small operations on a 50ms-latency remote over a copy of the
// base repository (so forget really deletes, every round from the same
// state), with a warm restic cache copied along.
func (b *bench) farCloud(ctx context.Context) error {
	base, err := b.farBase(ctx)
	if err != nil {
		return err
	}
	for round := 1; round <= b.c.rounds; round++ {
		for _, kind := range kinds {
			dir, err := b.farCopy(base, "farcloud", kind, round)
			if err != nil {
				return err
			}
			remote := fmt.Sprintf(":lag,remote=%q,latency=50ms:", filepath.Join(dir, "remote"))
			statsFile := filepath.Join(dir, "lagstats.json")
			err = withServer(b.spec(kind, remote, filepath.Join(dir, "state"), statsFile), func(srv *e2e.Server) error {
				var calls callCounter
				if kind == steady {
					calls = steadyCalls(srv.Addr)
				} else {
					calls = rcloneCalls(statsFile)
					// Wait for the first dump of the counters.
					deadline := time.Now().Add(10 * time.Second)
					for {
						if _, _, err := calls(); err == nil {
							break
						} else if time.Now().After(deadline) {
							return err
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
				fc := farCounters{scenario: "far cloud", unit: "remote calls", calls: calls}
				if _, err := b.farOps(ctx, fc, b.farSequence(kind, round, filepath.Join(base, "src")), dir, kind, round, srv); err != nil {
					return fmt.Errorf("%w\n%s", err, tail(srv.Log(), 3000))
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s round %d: %w", kind, round, err)
			}
		}
	}
	b.res.note("far cloud: lag remote latency=50ms (each remote call), repository of %d snapshots copied fresh per run with its warm restic cache; forget --keep-last 1 runs for real on that copy; the lock cycle is `restic cat config` (read lock: upload lock, list locks, read config, delete lock).", b.c.snapshots)
	b.res.note("remote calls: steadyrest from its own steadyrest_remote_operations_total (one per fs call it makes; a nested data/ listing counts once), rclone from the lag backend's in-process counters (one per fs.Fs/Object call) via bench/cmd/rclone-lag-stats. Calls counted from just before to 300ms after each command; 'total' includes the pauses between commands (background confirm listings of steadyrest).")
	return nil
}

// farCopy makes a fresh run folder holding a copy of the base repository
// and its restic cache.
func (b *bench) farCopy(base, scenario, kind string, round int) (string, error) {
	dir, err := b.roundDir(scenario, kind, round)
	if err != nil {
		return "", err
	}
	for _, sub := range []string{"remote", "cache"} {
		if err := copyTree(filepath.Join(base, sub), filepath.Join(dir, sub)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// farCounters says where the far-cloud commands' remote calls are counted.
type farCounters struct {
	scenario string
	unit     string
	calls    callCounter
	// listed, if set, is the bytes of listings answered so far.
	listed func() float64
	// tail, if set, also counts this long after the last command.
	tail time.Duration
}

// farOp is one measured command: prep runs first, uncounted.
type farOp struct {
	name string
	prep func() error
	args []string
}

// farSequence is the far-cloud commands. src is the base's source folder:
// the backup must name the same path as the 200 snapshots for restic to
// use a parent and for forget to group them together.
func (b *bench) farSequence(kind string, round int, src string) []farOp {
	return []farOp{
		{"snapshots", nil, []string{"snapshots", "-q"}},
		{"backup 10 changed files", func() error {
			// Rewrite 10 of the 50 files with new content for this run.
			return consistency.GenerateFiles(src, uint64(100+round*10+len(kind)), 10, 16<<10)
		}, []string{"backup", "-q", src}},
		{fmt.Sprintf("forget --keep-last 1 (%d snapshots)", b.c.snapshots+1), nil, []string{"forget", "-q", "--keep-last", "1"}},
		{"lock cycle (cat config)", nil, []string{"cat", "config"}},
	}
}

// farOps runs the measured commands ops in the run folder dir, counting
// where fc says, and returns the sum of the commands' wall times.
func (b *bench) farOps(ctx context.Context, fc farCounters, ops []farOp, dir, kind string, round int, srv *e2e.Server) (time.Duration, error) {
	repo := srv.URL("repo")
	cache := filepath.Join(dir, "cache")
	calls := fc.calls
	listed := func() float64 { return 0 }
	if fc.listed != nil {
		listed = fc.listed
	}
	settle := func() { time.Sleep(300 * time.Millisecond) }
	// A long-running server's start-up calls (steadyrest writes its
	// heartbeat and lists its peers' as it starts) are not the commands':
	// count from a quiet remote, as an operator's commands find it.
	start, err := quietCalls(calls, time.Second, 15*time.Second)
	if err != nil {
		return 0, err
	}
	startListed := listed()
	total := fmt.Sprintf("total of the %d commands", len(ops))
	var wall time.Duration
	for _, op := range ops {
		if op.prep != nil {
			if err := op.prep(); err != nil {
				return 0, err
			}
		}
		before, byBefore, err := calls()
		if err != nil {
			return 0, err
		}
		listedBefore := listed()
		d, _, err := b.r.run(ctx, repo, cache, op.args...)
		if err != nil {
			return 0, err
		}
		wall += d
		settle()
		after, byAfter, err := calls()
		if err != nil {
			return 0, err
		}
		b.res.add(sample{Scenario: fc.scenario, Metric: op.name, Unit: "s", Server: kind, Round: round, Value: d.Seconds()})
		b.res.add(sample{Scenario: fc.scenario, Metric: op.name, Unit: fc.unit, Server: kind, Round: round, Value: after - before,
			Note: breakdown(byBefore, byAfter)})
		if fc.listed != nil {
			b.res.add(sample{Scenario: fc.scenario, Metric: op.name, Unit: "PROPFIND KiB", Server: kind, Round: round, Value: (listed() - listedBefore) / 1024})
		}
	}
	end, byEnd, err := calls()
	if err != nil {
		return 0, err
	}
	b.res.add(sample{Scenario: fc.scenario, Metric: total, Unit: fc.unit, Server: kind, Round: round, Value: end - start})
	b.res.add(sample{Scenario: fc.scenario, Metric: total + ", wall", Unit: "s", Server: kind, Round: round, Value: wall.Seconds()})
	if fc.tail > 0 {
		time.Sleep(fc.tail)
		after, byAfter, err := calls()
		if err != nil {
			return 0, err
		}
		metric := fmt.Sprintf("%s + %v after", total, fc.tail)
		b.res.add(sample{Scenario: fc.scenario, Metric: metric, Unit: fc.unit, Server: kind, Round: round, Value: after - start,
			Note: "after the commands: " + breakdown(byEnd, byAfter)})
		b.res.add(sample{Scenario: fc.scenario, Metric: metric, Unit: "PROPFIND KiB", Server: kind, Round: round, Value: (listed() - startListed) / 1024})
	}
	if !slices.ContainsFunc(ops, func(op farOp) bool { return op.args[0] == "forget" }) {
		return wall, nil
	}
	// forget must really have removed the snapshots.
	_, out, err := b.r.run(ctx, repo, cache, "list", "snapshots")
	if err != nil {
		return 0, err
	}
	if n := len(strings.Fields(out)); n != 1 {
		return 0, fmt.Errorf("after forget --keep-last 1 the repository lists %d snapshots, want 1", n)
	}
	return wall, nil
}

// quietCalls waits until calls has not moved for quiet (at most limit)
// and returns its count then.
func quietCalls(calls func() (float64, map[string]float64, error), quiet, limit time.Duration) (float64, error) {
	n, _, err := calls()
	if err != nil {
		return 0, err
	}
	since, end := time.Now(), time.Now().Add(limit)
	for time.Now().Before(end) && time.Since(since) < quiet {
		time.Sleep(100 * time.Millisecond)
		m, _, err := calls()
		if err != nil {
			return 0, err
		}
		if m != n {
			n, since = m, time.Now()
		}
	}
	return n, nil
}
