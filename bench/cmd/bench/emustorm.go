package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// setup is one way of serving the storm's repository on the emulator.
type setup struct {
	column    string // table column
	slug      string // folder names
	kind      string // steady or rclone
	instances int
	overlay   bool // steadyrest instances share their records (--shared) on a redis-server
}

// emuStorm is what one storm on the emulator measured.
type emuStorm struct {
	res consistency.StormResult
	// API calls at the emulator, by method: init (+ the warm-up and the
	// pause after it),
	// the storm, and the storm plus the tail after it.
	initCalls, stormCalls, tailCalls map[string]float64
	// listfolder calls of the storm plus the tail, by folder (listGroups).
	tailLists map[string]float64
	// Redis commands (INFO commandstats) and the instances' own count of
	// shared-overlay operations, over the storm plus the tail.
	redisCmds  map[string]float64
	sharedOps  float64
	missing    int // snapshots missing from an instance's listing after the tail, summed over instances
	listErrors int // instances whose snapshot listing failed
}

// emuStorm runs the storm on the emulator through st: init through the
// first server, a pause, the plans back to back with plan i through server
// i % st.instances, then the tail (background work still counts), then a
// listing of snapshots through every server (not counted). limit bounds the
// storm (rclone serve restic retries lock removals for minutes).
func (b *bench) emuStorm(ctx context.Context, emu *emulator, scenario string, st setup, round int, tailWait, limit time.Duration) (*emuStorm, error) {
	dir := filepath.Join(b.c.work, "runs", fmt.Sprintf("%s-%s-%d", scenario, st.slug, round))
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clean %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", dir, err)
	}
	// A folder of its own on the emulator: no lag or ghost of an earlier run.
	root := fmt.Sprintf("%s-%s-%d", scenario, st.slug, round)
	remote := emuRemoteName + ":" + root

	var rds *redisServer
	if st.overlay {
		var err error
		if rds, err = startRedis(ctx, dir); err != nil {
			return nil, err
		}
		defer func() {
			if err := rds.stop(); err != nil {
				logf("warning: %v", err)
			}
		}()
	}
	var servers []*e2e.Server
	stopAll := func() {
		for _, s := range servers {
			if err := s.Stop(); err != nil {
				logf("warning: %v\n%s", err, tail(s.Log(), 2000))
			}
		}
		servers = nil
	}
	defer stopAll()
	for i := 0; i < st.instances; i++ {
		var spec e2e.ServerSpec
		if st.kind == steady {
			extra := []string{"--rclone-config", emu.conf, "--no-request-log", "--metrics-no-auth"}
			if rds != nil {
				shared, err := rds.flagsFor(b.c.steadyrest)
				if err != nil {
					return nil, err
				}
				extra = append(extra, shared...)
			}
			spec = e2e.SteadyrestSpec(b.c.steadyrest, remote, filepath.Join(dir, fmt.Sprintf("state%d", i)), extra...)
		} else {
			// The command-line --config wins over the spec's RCLONE_CONFIG.
			spec = e2e.RcloneServeResticSpec(b.c.rclone, remote, "--config", emu.conf)
		}
		spec.StopTimeout = 15 * time.Second
		srv, err := e2e.Start(spec)
		if err != nil {
			return nil, fmt.Errorf("%s instance %d: %w", st.column, i, err)
		}
		servers = append(servers, srv)
	}

	redisNow := func() (map[string]float64, error) {
		if rds == nil {
			return nil, nil
		}
		return rds.commandStats(ctx)
	}
	sharedNow := func() (float64, error) {
		if rds == nil {
			return 0, nil
		}
		var sum float64
		for _, s := range servers {
			v, _, err := metricSum(s.Addr, "steadyrest_shared_overlay_operations_total")
			if err != nil {
				return 0, fmt.Errorf("%s: %w", s.Addr, err)
			}
			sum += v
		}
		return sum, nil
	}

	sc := consistency.StormConfig{Restic: b.c.restic, Repo: servers[0].URL("storm"), WorkDir: filepath.Join(dir, "work"),
		Plans: b.c.plans, Timeout: 5 * time.Minute,
		Logf: func(f string, a ...any) { logf("    "+f, a...) }}
	if err := sc.Prepare(); err != nil {
		return nil, err
	}
	c0 := emu.calls()
	if err := sc.Init(ctx); err != nil {
		return nil, err
	}
	// Long-running servers know the repository's folders: without this,
	// each instance's first lookups of the folder path (rclone's pcloud
	// backend finds a folder by listing its parents) would count as storm.
	for _, s := range servers {
		if err := warmUp(ctx, s.Addr, "storm", "config", "keys/", "locks/", "snapshots/", "index/", "data/"); err != nil {
			return nil, err
		}
	}
	// Let the init settle on the lagging remote, as a user's first
	// scheduled run would (the storm scenario does the same).
	time.Sleep(4 * time.Second)
	c1, l1 := emu.calls(), emu.lists.snapshot()
	r1, err := redisNow()
	if err != nil {
		return nil, err
	}
	s1, err := sharedNow()
	if err != nil {
		return nil, err
	}
	repos := make([]string, len(servers))
	for i, s := range servers {
		repos[i] = s.URL("storm")
	}
	stormCtx, cancel := context.WithTimeout(ctx, limit)
	res := runSpread(stormCtx, sc, repos)
	cancel()
	c2 := emu.calls()
	time.Sleep(tailWait)
	c3, l3 := emu.calls(), emu.lists.snapshot()
	r3, err := redisNow()
	if err != nil {
		return nil, err
	}
	s3, err := sharedNow()
	if err != nil {
		return nil, err
	}
	out := &emuStorm{res: res, sharedOps: s3 - s1}
	out.initCalls, _ = diff(c0, c1)
	out.stormCalls, _ = diff(c1, c2)
	out.tailCalls, _ = diff(c1, c3)
	if rds != nil {
		out.redisCmds, _ = diff(r1, r3)
	}
	lists, _ := diff(l1, l3)
	if out.tailLists, err = emu.listsByFolder(ctx, "/"+root+"/storm", lists); err != nil {
		return nil, err
	}

	// Every server must list every plan's snapshot (forget keeps one per
	// host): the consistency the storm is about, checked after counting.
	for _, repo := range repos {
		c := sc
		c.Repo = repo
		c.Timeout = time.Minute
		snaps, err := c.Snapshots(ctx)
		if err != nil {
			// A server that cannot list shows none of them.
			out.listErrors++
			out.missing += b.c.plans
			logf("    snapshots through %s: %v", repo, firstLine(err.Error()))
			continue
		}
		hosts := map[string]bool{}
		for _, s := range snaps {
			hosts[s.Hostname] = true
		}
		for i := 0; i < b.c.plans; i++ {
			if !hosts[consistency.PlanName(i)] {
				out.missing++
			}
		}
	}
	return out, nil
}

// warmUp reads paths (a file, or a folder/ to list) of the repository
// at /repo/ through a server: reads only, nothing for a background task
// to finish.
func warmUp(ctx context.Context, addr, repo string, paths ...string) error {
	for _, p := range paths {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/"+repo+"/"+p, nil)
		if err != nil {
			return fmt.Errorf("warm-up request: %w", err)
		}
		req.Header.Set("Accept", "application/vnd.x.restic.rest.v2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("warm-up GET /%s/%s: %w", repo, p, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("warm-up GET /%s/%s: %w", repo, p, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("warm-up GET /%s/%s: %s", repo, p, resp.Status)
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// runSpread runs the storm's plans back to back, plan i through
// repos[i % len(repos)], each plan's backup then (whatever its outcome) its
// forget, as consistency.StormConfig.RunStorm does through one repository
// URL. Commands that ctx cuts short count as failed (exit -1).
func runSpread(ctx context.Context, base consistency.StormConfig, repos []string) consistency.StormResult {
	res := consistency.StormResult{Plans: base.Plans}
	start := time.Now()
	for i := 0; i < base.Plans; i++ {
		c := base
		c.Repo = repos[i%len(repos)]
		backup, forget := c.PlanArgs(i)
		for _, args := range [][]string{backup, forget} {
			t := time.Now()
			code, output, err := c.Run(ctx, consistency.PlanName(i), args...)
			clean, bad := consistency.JSONLines(output)
			r := consistency.CommandResult{Plan: i, Command: args[0], Args: args, Code: code, JSON: clean && err == nil,
				Warnings: len(bad), BadLines: bad, Duration: time.Since(t), Output: output}
			if err != nil {
				r.BadLines = append(r.BadLines, err.Error())
			}
			logf("    %s %s via %d: exit %d, json clean %v, %d warning lines, %v", consistency.PlanName(i), args[0],
				i%len(repos), code, clean, len(bad), r.Duration.Round(time.Millisecond))
			res.Commands = append(res.Commands, r)
		}
	}
	res.Wall = time.Since(start)
	return res
}

// addEmuStorm records one storm's figures under scenario and column.
func (b *bench) addEmuStorm(scenario, column string, round int, m *emuStorm, tailWait time.Duration) {
	add := func(metric, unit string, v float64, note string) {
		b.res.add(sample{Scenario: scenario, Metric: metric, Unit: unit, Server: column, Round: round, Value: v, Note: note})
	}
	ok, exit0, withWarn, lines := m.res.Summary()
	storm := fmt.Sprintf("storm %d plans", b.c.plans)
	add(storm, "s", m.res.Wall.Seconds(), "")
	add(storm+", commands not ok", "count", float64(len(m.res.Commands)-ok),
		fmt.Sprintf("%d/%d commands ok (exit 0 + JSON only), %d exit 0, %d with warnings, %d warning lines", ok, len(m.res.Commands), exit0, withWarn, lines))
	add("snapshots missing from a server's listing after", "count", float64(m.missing), fmt.Sprintf("%d listings failed (all counted missing)", m.listErrors))
	_, initTotal := diff(nil, m.initCalls)
	_, stormTotal := diff(nil, m.stormCalls)
	_, tailTotal := diff(nil, m.tailCalls)
	add("init, warm-up of each server, 4 s pause: API calls at the emulator", "calls", initTotal, fmtCounts(m.initCalls))
	add(storm+", API calls at the emulator", "calls", stormTotal, fmtCounts(m.stormCalls))
	after := fmt.Sprintf("storm + %v after, API calls at the emulator", tailWait)
	add(after, "calls", tailTotal, fmtCounts(m.tailCalls))
	per := byMethod(m.tailCalls)
	for _, k := range append(append([]string{}, emuMethods...), "other") {
		add(after+": "+k, "calls", per[k], "")
	}
	for _, g := range listGroups {
		add(after+": listfolder of "+g, "calls", m.tailLists[g], "")
	}
	if m.redisCmds != nil {
		_, total := diff(nil, m.redisCmds)
		scripts := m.redisCmds["evalsha"] + m.redisCmds["eval"] + m.redisCmds["fcall"]
		add(fmt.Sprintf("storm + %v after, Redis commands (INFO commandstats, incl. inside scripts)", tailWait), "commands", total, fmtCounts(m.redisCmds))
		add(fmt.Sprintf("storm + %v after, Redis script calls (EVALSHA/EVAL)", tailWait), "calls", scripts, "")
		add(fmt.Sprintf("storm + %v after, shared overlay operations (instances' /metrics)", tailWait), "ops", m.sharedOps, "")
	}
}

// multi: the storm through 1 steadyrest instance (its own journal) and
// through 3 instances sharing one redis-server (--shared), all on one
// pCloud emulator, counting the remote calls at the emulator.
func (b *bench) multi(ctx context.Context) error {
	emu, err := startEmulator(b.c.work)
	if err != nil {
		return err
	}
	defer emu.close()
	setups := []setup{
		{column: "3 instances, one --shared Redis", slug: "three", kind: steady, instances: 3, overlay: true},
		{column: "1 instance", slug: "one", kind: steady, instances: 1},
	}
	if b.c.multiOneRedis {
		setups = append(setups[:1:1], setup{column: "1 instance, --shared Redis", slug: "oneredis", kind: steady, instances: 1, overlay: true}, setups[1])
	}
	cols := make([]string, 0, len(setups))
	for _, s := range setups[:len(setups)-1] {
		cols = append(cols, s.column)
	}
	b.res.setColumns("multi", setups[len(setups)-1].column, cols...)
	for round := 1; round <= b.c.stormRounds; round++ {
		// The base (1 instance) first, then the others.
		for i := len(setups) - 1; i >= 0; i-- {
			st := setups[i]
			logf("  multi round %d: %s", round, st.column)
			m, err := b.emuStorm(ctx, emu, "multi", st, round, b.c.tail, 10*time.Minute)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", st.column, round, err)
			}
			b.addEmuStorm("multi", st.column, round, m, b.c.tail)
		}
	}
	st := emu.Stats()
	b.res.note("multi: one pCloud emulator in the bench process (list lag 3s, fresh deletes refused; %d fresh deletes refused in all), each set-up in a folder of its own on it, run one after the other; plan i goes through instance i %% N; API calls are counted by the emulator (every HTTPS request it answers, downloads as \"download\"; listfolder by folder from its request log), from the end of init + warm-up (GET config and the v2 listings of keys, locks, snapshots, index, data through every instance: reads only) + a 4 s pause to the end of the storm, and to %v after it (background confirming and reaping of every instance); the snapshot listings after that are not counted.", st.FreshDeleteRefusals, b.c.tail)
	b.res.note("multi: the redis-server runs on a unix socket in the run folder with appendonly yes, appendfsync always; Redis commands are INFO commandstats deltas over the storm and the tail (commands a script runs count under their own names as well as the EVALSHA), our INFO calls left out; shared overlay operations sum steadyrest_shared_overlay_operations_total over the instances.")
	return nil
}

// pcloudStorm: the storm on the pCloud emulator through steadyrest and
// through rclone serve restic (rclone's own pcloud backend on the same
// emulator), counting the API calls at the emulator; with pCloud's lag,
// and without it (where rclone serve restic does the same work, so the
// calls compare like for like).
func (b *bench) pcloudStorm(ctx context.Context) error {
	emu, err := startEmulator(b.c.work)
	if err != nil {
		return err
	}
	defer emu.close()
	setups := []setup{
		{column: steady, slug: "steady", kind: steady, instances: 1},
		{column: rclone, slug: "rclone", kind: rclone, instances: 1},
	}
	knobs := []struct {
		name, slug string
		opt        pcloudemu.Options
	}{
		{"lag 3s", "lag", emuOptions()},
		{"no lag", "nolag", pcloudemu.Options{}},
	}
	for round := 1; round <= b.c.stormRounds; round++ {
		for _, k := range knobs {
			emu.SetOptions(withLogger(k.opt, emu))
			for _, st := range setups {
				logf("  pcloud %s round %d: %s", k.name, round, st.column)
				m, err := b.emuStorm(ctx, emu, "pcloud"+k.slug, st, round, b.c.tail, b.c.peerLimit)
				if err != nil {
					return fmt.Errorf("%s, %s round %d: %w", st.column, k.name, round, err)
				}
				b.addEmuStorm("pcloud storm, "+k.name, st.column, round, m, b.c.tail)
				if m.res.Wall >= b.c.peerLimit {
					b.res.note("pcloud storm: %s, %s round %d was cut off at %v (--peer-limit): commands not run count as not ok (exit -1), and its calls are those of the part that ran.", st.column, k.name, round, b.c.peerLimit)
				}
			}
		}
	}
	b.res.note("pcloud storm: the storm scenario's plans back to back on the pCloud emulator, with pCloud's lag (list lag 3s, fresh deletes refused) and without; rclone's real pcloud backend in both servers; API calls counted by the emulator from the end of init + warm-up (reads through the server) + a 4 s pause to the end of the storm, and to %v after it.", b.c.tail)
	return nil
}

// withLogger keeps the emulator's request counter as the logger of opt.
func withLogger(opt pcloudemu.Options, emu *emulator) pcloudemu.Options {
	opt.Logger = slog.New(emu.lists)
	return opt
}
