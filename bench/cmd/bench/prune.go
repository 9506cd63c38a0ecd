package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// pruneSetup is one server set-up of the prune scenario.
type pruneSetup struct {
	column, slug string
	kind         string // steady or rclone
	bin          string // steadyrest binary
	flags        []string
	redis        bool // --shared on a redis-server of the run's own
}

// pruneSetups are steadyrest with its local journal and with --shared
// Redis, the same two for each --variant, and rclone serve restic last
// (the base of the ratios).
func (b *bench) pruneSetups() []pruneSetup {
	out := []pruneSetup{
		{column: steady + " (local journal)", slug: "journal", kind: steady, bin: b.c.steadyrest},
		{column: steady + " (--shared Redis)", slug: "redis", kind: steady, bin: b.c.steadyrest, redis: true},
	}
	for i, v := range b.c.variants {
		bin := v.bin
		if bin == "" {
			bin = b.c.steadyrest
		}
		out = append(out,
			pruneSetup{column: v.label + " (local journal)", slug: fmt.Sprintf("v%djournal", i+1), kind: steady, bin: bin, flags: v.flags},
			pruneSetup{column: v.label + " (--shared Redis)", slug: fmt.Sprintf("v%dredis", i+1), kind: steady, bin: bin, flags: v.flags, redis: true})
	}
	return append(out, pruneSetup{column: rclone, slug: "rclone", kind: rclone})
}

// prune: restic prune of a repository holding --prune-packs unreferenced
// packs, through each set-up on each remote of --prune-remotes, a fresh
// copy of the repository per run, the set-ups' order rotated each round.
func (b *bench) prune(ctx context.Context) error {
	base, err := b.pruneBaseRepo(ctx, b.c.prunePacks)
	if err != nil {
		return err
	}
	var remotes []pruneRemote
	for _, name := range strings.Split(b.c.pruneRemotes, ",") {
		switch strings.TrimSpace(name) {
		case "webdav":
			remotes = append(remotes, b.pruneWebDAV())
		case "pcloud":
			emu, err := startEmulator(b.c.work)
			if err != nil {
				return err
			}
			defer emu.close()
			remotes = append(remotes, b.prunePCloud(emu))
		default:
			return fmt.Errorf("--prune-remotes: unknown remote %q (webdav, pcloud)", name)
		}
	}
	setups := b.pruneSetups()
	var cols []string
	for _, st := range setups[:len(setups)-1] {
		cols = append(cols, st.column)
	}
	for _, rm := range remotes {
		b.res.setColumns(rm.title, rclone, cols...)
	}
	for round := 1; round <= b.c.pruneRounds; round++ {
		for _, rm := range remotes {
			k := (round - 1) % len(setups)
			for _, st := range append(setups[k:len(setups):len(setups)], setups[:k]...) {
				logf("  prune %s round %d: %s", rm.slug, round, st.column)
				if err := b.pruneRun(ctx, rm, st, base, round); err != nil {
					return fmt.Errorf("%s, %s round %d: %w", rm.title, st.column, round, err)
				}
			}
		}
	}
	b.res.note("prune: a repository (one small backup) plus %d packs of 512 bytes that no index references (restic prune --dry-run -v finds all %d), built once with restic's local backend; each run gets a fresh copy with its warm restic cache, then one `restic prune` (defaults) through the set-up; requests counted at the remote from just before the prune to its end; 'listed right after' is a v2 listing of data/ through the same server at once after the prune (not counted), 'after' adds the %v after it (that listing left out); peak RSS is the server's VmHWM after the prune. Set-ups' order rotates by one each round.", b.c.prunePacks, b.c.prunePacks, b.c.tail)
	b.res.note("prune, WebDAV: the counting WebDAV server (golang.org/x/net/webdav) over the copy, %v per request, reached through rclone's lag backend (create_lag=delete_lag=%v, the lag lives in each server's process) over rclone's webdav backend (vendor other). prune, pCloud emulator: the repository uploaded through the emulator's API (one uploadfile per folder, not counted) while it has no lag, then list lag %v, fresh deletes refused, %v per call, and a %v pause before the prune.", pruneLatency, pruneLag, pruneLag, pruneLatency, pruneLag+time.Second)
	b.noteVariants("prune")
	return nil
}

// pruneRun runs one prune through set-up st on a fresh copy on rm.
func (b *bench) pruneRun(ctx context.Context, rm pruneRemote, st pruneSetup, base *pruneBase, round int) error {
	folder := fmt.Sprintf("prune-%s-%s-%d", rm.slug, st.slug, round)
	dir, err := b.runDir(folder)
	if err != nil {
		return err
	}
	if err := copyTree(base.cache(), filepath.Join(dir, "cache")); err != nil {
		return err
	}
	tg, err := rm.prepare(ctx, base, dir, folder)
	if err != nil {
		return err
	}
	defer tg.close()
	var spec e2e.ServerSpec
	if st.kind == steady {
		flags := append(append([]string{"--no-request-log", "--metrics-no-auth"}, tg.steadyFlags...), st.flags...)
		if st.redis {
			rds, err := startRedis(ctx, dir)
			if err != nil {
				return err
			}
			defer func() {
				if err := rds.stop(); err != nil {
					logf("warning: %v", err)
				}
			}()
			shared, err := rds.flagsFor(st.bin)
			if err != nil {
				return err
			}
			flags = append(flags, shared...)
		}
		spec = e2e.SteadyrestSpec(st.bin, tg.remote, filepath.Join(dir, "state"), flags...)
	} else {
		spec = e2e.RcloneServeResticSpec(b.c.rclone, tg.remote, tg.rcloneFlags...)
	}
	spec.StopTimeout = 15 * time.Second
	return withServer(spec, func(srv *e2e.Server) error {
		return b.pruneMeasure(ctx, rm, tg, st, base, srv, dir, round)
	})
}

// pruneMeasure runs the prune on a started server and records its figures.
func (b *bench) pruneMeasure(ctx context.Context, rm pruneRemote, tg *pruneTarget, st pruneSetup, base *pruneBase, srv *e2e.Server, dir string, round int) error {
	add := func(metric, unit string, v float64, note string) {
		b.res.add(sample{Scenario: rm.title, Metric: metric, Unit: unit, Server: st.column, Round: round, Value: v, Note: note})
	}
	// A long-running server has found its folder already (on pCloud a
	// lookup of a path lists its parents): a read of config first, a read
	// only, leaving nothing for background work to finish.
	if err := warmUp(ctx, srv.Addr, "repo", "config"); err != nil {
		return err
	}
	c0 := tg.counts()
	d, out, err := b.r.run(ctx, srv.URL("repo"), filepath.Join(dir, "cache"), "prune")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(srv.Log(), 3000))
	}
	rss := peakMiB(srv)
	c1 := tg.counts()
	_, listed, err := listData(ctx, srv.Addr)
	if err != nil {
		return err
	}
	c2 := tg.counts()
	time.Sleep(b.c.tail)
	c3 := tg.counts()
	_, later, err := listData(ctx, srv.Addr)
	if err != nil {
		return err
	}
	during, _ := diff(c0, c1)
	afterTail, _ := diff(c2, c3)
	for k, v := range during {
		afterTail[k] += v
	}
	rowsDuring, err := tg.rows(ctx, during)
	if err != nil {
		return err
	}
	rowsAll, err := tg.rows(ctx, afterTail)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("restic prune, %d unreferenced packs", b.c.prunePacks)
	add(name+": wall", "s", d.Seconds(), firstLine(lastLines(out, 1)))
	add(name+": server peak RSS", "MiB", rss, "")
	add(name+": requests at the remote", "requests", rowsDuring["total"], fmtCounts(rowsDuring))
	for _, r := range rm.rowNames {
		add(name+": "+r, "requests", rowsDuring[r], "")
	}
	tailName := fmt.Sprintf("prune + %v after: requests at the remote", b.c.tail)
	add(tailName, "requests", rowsAll["total"], fmtCounts(rowsAll))
	for _, r := range rm.keyRows {
		add(fmt.Sprintf("prune + %v after: %s", b.c.tail, r), "requests", rowsAll[r], "")
	}
	add("packs listed right after the prune", "packs", float64(len(listed)), "")
	add("deleted packs still listed right after the prune", "packs", float64(countIn(listed, base.unref)), "")
	add(fmt.Sprintf("deleted packs still listed %v after", b.c.tail), "packs", float64(countIn(later, base.unref)), "")
	return nil
}

// countIn counts the names that set holds.
func countIn(names []string, set map[string]bool) int {
	n := 0
	for _, x := range names {
		if set[x] {
			n++
		}
	}
	return n
}

// lastLines is the last n non-empty lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
