package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

// genData writes size bytes of incompressible data as 64 MiB files into
// dir once; a marker file makes later runs reuse it.
func genData(dir string, size int64) error {
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clean %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	src := rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'})
	const chunk = 64 << 20
	for i := 0; size > 0; i++ {
		n := min(size, chunk)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("blob%03d.bin", i)))
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		_, err = io.CopyN(f, src, n)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write data: %w", err)
		}
		size -= n
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	return nil
}

// throughput: backup then restore of incompressible data on a local
// folder, fresh repository per server and round.
func (b *bench) throughput(ctx context.Context) error {
	size := int64(b.c.size)
	data := filepath.Join(b.c.work, fmt.Sprintf("data-%d", size))
	logf("generating %s of data in %s (once)", b.c.size, data)
	if err := genData(data, size); err != nil {
		return err
	}
	mib := float64(size) / (1 << 20)
	for round := 1; round <= b.c.rounds; round++ {
		for _, kind := range b.throughputKinds(round) {
			dir, err := b.roundDir("throughput", kind, round)
			if err != nil {
				return err
			}
			err = withServer(b.spec(kind, filepath.Join(dir, "remote"), filepath.Join(dir, "state"), ""), func(srv *e2e.Server) error {
				repo := srv.URL("repo")
				cache := filepath.Join(dir, "cache")
				if _, _, err := b.r.run(ctx, repo, cache, "init"); err != nil {
					return err
				}
				if err := b.syncDisks(ctx); err != nil {
					return err
				}
				b.addDirty("backup", kind, round)
				cpu0 := serverCPU(srv)
				d, _, err := b.r.run(ctx, repo, cache, "backup", "--no-scan", data)
				if err != nil {
					return err
				}
				cpu1 := serverCPU(srv)
				b.res.add(sample{Scenario: "throughput", Metric: "backup " + b.c.size.String(), Unit: "MiB/s", Server: kind, Round: round, Value: mib / d.Seconds()})
				b.res.add(sample{Scenario: "throughput", Metric: "server CPU during backup", Unit: "s", Server: kind, Round: round, Value: cpu1 - cpu0})
				b.res.add(sample{Scenario: "throughput", Metric: "peak RSS after backup", Unit: "MiB", Server: kind, Round: round, Value: peakMiB(srv)})
				if err := b.syncDisks(ctx); err != nil {
					return err
				}
				b.addDirty("restore", kind, round)
				d, _, err = b.r.run(ctx, repo, cache, "restore", "latest", "--target", filepath.Join(dir, "restore"))
				if err != nil {
					return err
				}
				b.res.add(sample{Scenario: "throughput", Metric: "restore " + b.c.size.String(), Unit: "MiB/s", Server: kind, Round: round, Value: mib / d.Seconds()})
				b.res.add(sample{Scenario: "throughput", Metric: "server CPU during restore", Unit: "s", Server: kind, Round: round, Value: serverCPU(srv) - cpu1})
				b.res.add(sample{Scenario: "throughput", Metric: "peak RSS after restore", Unit: "MiB", Server: kind, Round: round, Value: peakMiB(srv)})
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s round %d: %w", kind, round, err)
			}
			// Free the disk before the next run.
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("clean: %w", err)
			}
		}
	}
	b.noteVariants("throughput")
	return nil
}

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
				if err := b.farOps(ctx, fc, b.farSequence(kind, round, filepath.Join(base, "src")), dir, kind, round, srv); err != nil {
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

// farWebDAV: the far-cloud commands with the remote a WebDAV server over
// the copy (rclone's webdav backend in both servers), 50 ms per request,
// counting requests and PROPFIND bytes at that server: the same counter for
// both servers, where the remote sees the calls.
func (b *bench) farWebDAV(ctx context.Context) error {
	return b.farWebDAVRun(ctx, "farwebdav", "far cloud (WebDAV)", b.farSequence)
}

// farIssue: issue 13's own far-cloud sequence on the counting WebDAV
// server, 3 × snapshots then a backup of 10 changed files, where its goal
// (at most half the peer's requests) was set.
func (b *bench) farIssue(ctx context.Context) error {
	return b.farWebDAVRun(ctx, "farissue", "far cloud, issue 13's commands (WebDAV)", func(kind string, round int, src string) []farOp {
		all := b.farSequence(kind, round, src)
		snap, backup := all[0], all[1]
		return []farOp{
			{name: "snapshots (1st)", args: snap.args}, {name: "snapshots (2nd)", args: snap.args},
			{name: "snapshots (3rd)", args: snap.args}, backup,
		}
	})
}

// farWebDAVRun runs the commands seq returns on the counting WebDAV
// server, under scenario (a folder name) and title (the table's).
func (b *bench) farWebDAVRun(ctx context.Context, scenario, title string, seq func(kind string, round int, src string) []farOp) error {
	base, err := b.farBase(ctx)
	if err != nil {
		return err
	}
	for round := 1; round <= b.c.rounds; round++ {
		for _, kind := range kinds {
			dir, err := b.farCopy(base, scenario, kind, round)
			if err != nil {
				return err
			}
			dav, err := startDAV(filepath.Join(dir, "remote"), 50*time.Millisecond)
			if err != nil {
				return err
			}
			err = withServer(b.spec(kind, dav.remote(), filepath.Join(dir, "state"), ""), func(srv *e2e.Server) error {
				fc := farCounters{scenario: title, unit: "requests at the remote", calls: dav.calls,
					listed: dav.listedBytes, tail: b.c.tail}
				src := filepath.Join(base, "src")
				if err := b.farOps(ctx, fc, seq(kind, round, src), dir, kind, round, srv); err != nil {
					return fmt.Errorf("%w\n%s", err, tail(srv.Log(), 3000))
				}
				return nil
			})
			if cerr := dav.close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s round %d: %w", kind, round, err)
			}
		}
	}
	b.res.note(title+": the commands on a WebDAV server (golang.org/x/net/webdav over the copied folder, bench/cmd/bench/davcount.go) that waits 50 ms before each answer; rclone's webdav backend (vendor other) in both servers; requests and answer bytes counted by that server per HTTP method; PROPFIND KiB = bytes of listings and lookups answered; 'after' adds the %v after the last command (background confirming).", b.c.tail)
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
// where fc says.
func (b *bench) farOps(ctx context.Context, fc farCounters, ops []farOp, dir, kind string, round int, srv *e2e.Server) error {
	repo := srv.URL("repo")
	cache := filepath.Join(dir, "cache")
	calls := fc.calls
	listed := func() float64 { return 0 }
	if fc.listed != nil {
		listed = fc.listed
	}
	settle := func() { time.Sleep(300 * time.Millisecond) }
	start, _, err := calls()
	if err != nil {
		return err
	}
	startListed := listed()
	total := fmt.Sprintf("total of the %d commands", len(ops))
	for _, op := range ops {
		if op.prep != nil {
			if err := op.prep(); err != nil {
				return err
			}
		}
		before, byBefore, err := calls()
		if err != nil {
			return err
		}
		listedBefore := listed()
		d, _, err := b.r.run(ctx, repo, cache, op.args...)
		if err != nil {
			return err
		}
		settle()
		after, byAfter, err := calls()
		if err != nil {
			return err
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
		return err
	}
	b.res.add(sample{Scenario: fc.scenario, Metric: total, Unit: fc.unit, Server: kind, Round: round, Value: end - start})
	if fc.tail > 0 {
		time.Sleep(fc.tail)
		after, byAfter, err := calls()
		if err != nil {
			return err
		}
		metric := fmt.Sprintf("%s + %v after", total, fc.tail)
		b.res.add(sample{Scenario: fc.scenario, Metric: metric, Unit: fc.unit, Server: kind, Round: round, Value: after - start,
			Note: "after the commands: " + breakdown(byEnd, byAfter)})
		b.res.add(sample{Scenario: fc.scenario, Metric: metric, Unit: "PROPFIND KiB", Server: kind, Round: round, Value: (listed() - startListed) / 1024})
	}
	if !slices.ContainsFunc(ops, func(op farOp) bool { return op.args[0] == "forget" }) {
		return nil
	}
	// forget must really have removed the snapshots.
	_, out, err := b.r.run(ctx, repo, cache, "list", "snapshots")
	if err != nil {
		return err
	}
	if n := len(strings.Fields(out)); n != 1 {
		return fmt.Errorf("after forget --keep-last 1 the repository lists %d snapshots, want 1", n)
	}
	return nil
}

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

// listBase creates, once, a repository folder with n data packs of a few
// bytes each, written directly into the folder.
func (b *bench) listBase(n int) (string, error) {
	base := filepath.Join(b.c.work, fmt.Sprintf("list-%d", n))
	marker := filepath.Join(base, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return base, nil
	}
	if err := os.RemoveAll(base); err != nil {
		return "", fmt.Errorf("clean %s: %w", base, err)
	}
	repo := filepath.Join(base, "remote", "repo")
	for _, d := range []string{"keys", "locks", "snapshots", "index"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			return "", fmt.Errorf("mkdir: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "config"), []byte("bench"), 0o644); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	src := rand.NewChaCha8([32]byte{'l', 'i', 's', 't'})
	id := make([]byte, 32)
	for i := 0; i < n; i++ {
		_, _ = src.Read(id)
		name := hex.EncodeToString(id)
		d := filepath.Join(repo, "data", name[:2])
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("mkdir: %w", err)
		}
		if err := os.WriteFile(filepath.Join(d, name), []byte("pack"), 0o644); err != nil {
			return "", fmt.Errorf("write pack: %w", err)
		}
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return "", fmt.Errorf("write marker: %w", err)
	}
	return base, nil
}

// listing: GET /repo/data/ (v2) three times on a fresh server process.
func (b *bench) listing(ctx context.Context) error {
	logf("creating %d data packs (once)", b.c.packs)
	base, err := b.listBase(b.c.packs)
	if err != nil {
		return err
	}
	for round := 1; round <= b.c.rounds; round++ {
		for _, kind := range kinds {
			dir, err := b.roundDir("list", kind, round)
			if err != nil {
				return err
			}
			err = withServer(b.spec(kind, filepath.Join(base, "remote"), filepath.Join(dir, "state"), ""), func(srv *e2e.Server) error {
				var times []float64
				for i := 0; i < 3; i++ {
					d, n, err := listData(ctx, srv.Addr)
					if err != nil {
						return err
					}
					if n != b.c.packs {
						return fmt.Errorf("GET /repo/data/ listed %d packs, want %d", n, b.c.packs)
					}
					times = append(times, d.Seconds())
				}
				m := fmt.Sprintf("GET /data/ v2, %d packs", b.c.packs)
				b.res.add(sample{Scenario: "listing", Metric: m + ", first", Unit: "s", Server: kind, Round: round, Value: times[0]})
				b.res.add(sample{Scenario: "listing", Metric: m + ", median of 3", Unit: "s", Server: kind, Round: round, Value: median(times)})
				b.res.add(sample{Scenario: "listing", Metric: m + ", server peak RSS", Unit: "MiB", Server: kind, Round: round, Value: peakMiB(srv)})
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s round %d: %w", kind, round, err)
			}
		}
	}
	return nil
}

// listData lists /repo/data/ with the v2 API and returns the time to the
// end of the body and the number of entries.
func listData(ctx context.Context, addr string) (time.Duration, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/repo/data/", nil)
	if err != nil {
		return 0, 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.x.restic.rest.v2")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("GET /repo/data/: %w", err)
	}
	defer resp.Body.Close()
	var entries []struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return 0, 0, fmt.Errorf("GET /repo/data/: %s: %s", resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		return 0, 0, fmt.Errorf("decode listing: %w", err)
	}
	return time.Since(start), len(entries), nil
}
