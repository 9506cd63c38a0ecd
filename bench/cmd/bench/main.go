// Command bench compares steadyrest with `rclone serve restic` (same rclone
// version, same remote), alternating the two servers (A B A B ...) and
// printing medians and ratios as markdown tables:
//
//  1. throughput: backup then restore of incompressible data on a local
//     folder, and each server's peak RSS;
//  2. far cloud: small operations on a lag remote with latency=50ms and a
//     repository of many snapshots, with the remote calls each server made;
//  3. storm: N back-to-back plans (backup --json, forget --json
//     --keep-last 1) on a remote with create_lag=3s,delete_lag=3s and on
//     the same remote without lag;
//  4. listing: GET /data/ (v2) of a repository with 100,000 packs;
//  5. farwebdav: the far-cloud commands on a counting WebDAV server, with
//     requests and listing bytes counted by that server; farissue: issue
//     13's own sequence there (3 × snapshots, then a backup);
//  6. pcloud: the storm on the pCloud emulator, API calls counted by it;
//  7. multi: the storm through 1 steadyrest instance and through 3 sharing
//     one redis-server (--shared), on one pCloud emulator, API calls
//     counted by it and Redis commands by Redis;
//  8. freshread: init, a 40 MiB backup and at once check --read-data on a
//     pCloud emulator that refuses download links of files younger than
//     150 s, through steadyrest, steadyrest --spool-bytes 0 and rclone
//     serve restic;
//  9. prune: restic prune of a repository holding many unreferenced packs
//     on a lagging WebDAV and on the pCloud emulator, through steadyrest
//     (local journal, --shared Redis) and rclone serve restic, requests
//     counted at the remote by kind.
//
// Run it through bench/run.sh, which builds the binaries. It only talks to
// 127.0.0.1 and stops by itself.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

type config struct {
	steadyrest, rclone, rcloneStats, restic string
	work                                    string
	rounds, stormRounds                     int
	size                                    fs.SizeSuffix
	snapshots, plans, packs                 int
	scenarios                               map[string]bool
	jsonOut                                 string
	// Emulator scenarios: how long background work is still counted after
	// the storm, the bound on a peer's storm, and whether multi also runs
	// one instance with the Redis overlay.
	tail, peerLimit time.Duration
	multiOneRedis   bool
	// freshread: bound on each restic command, and the pause between
	// init and the backup.
	checkLimit, initWait time.Duration
	// throughput: more steadyrest set-ups (builds or flags) to alternate,
	// and whether to sync(1) before each backup and restore.
	variants variants
	sync     bool
	// prune: unreferenced packs, rounds, and the remotes to run on.
	prunePacks, pruneRounds int
	pruneRemotes            string
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func main() {
	if err := run(); err != nil {
		logf("bench: %v", err)
		os.Exit(1)
	}
}

func run() error {
	c := config{size: fs.SizeSuffix(1 << 30)}
	var scen string
	flag.StringVar(&c.steadyrest, "steadyrest", "", "steadyrest binary")
	flag.StringVar(&c.rclone, "rclone", "", "rclone-lag binary (rclone v1.76.0 CLI with the lag backend)")
	flag.StringVar(&c.rcloneStats, "rclone-stats", "", "rclone-lag-stats binary (rclone-lag that also writes the lag call counters), for the far-cloud call counts")
	flag.StringVar(&c.restic, "restic", "restic", "restic binary")
	flag.StringVar(&c.work, "work", "", "work folder (generated data is kept and reused between runs)")
	flag.IntVar(&c.rounds, "rounds", 2, "rounds of A B per scenario (throughput, far cloud, listing)")
	flag.IntVar(&c.stormRounds, "storm-rounds", 1, "rounds of the storm scenario (rclone on the lagging remote takes minutes)")
	flag.Var(&c.size, "size", "bytes of data for the throughput scenario (e.g. 1G, 256M)")
	flag.IntVar(&c.snapshots, "snapshots", 200, "snapshots in the far-cloud repository")
	flag.IntVar(&c.plans, "plans", 15, "plans in the storm")
	flag.IntVar(&c.packs, "packs", 100000, "data packs in the listing scenario")
	flag.IntVar(&c.prunePacks, "prune-packs", 20000, "prune: unreferenced packs in the repository")
	flag.IntVar(&c.pruneRounds, "prune-rounds", 1, "prune: rounds of all set-ups on each remote")
	flag.StringVar(&c.pruneRemotes, "prune-remotes", "webdav,pcloud", "prune: remotes to run on (webdav, pcloud), comma separated")
	flag.StringVar(&scen, "scenarios", "throughput,farcloud,storm,list,farwebdav,farissue,pcloud,multi,freshread,prune", "scenarios to run, comma separated")
	flag.DurationVar(&c.tail, "tail", 15*time.Second, "pcloud, multi, farwebdav, farissue: also count the remote calls for this long after the commands")
	flag.DurationVar(&c.peerLimit, "peer-limit", 10*time.Minute, "pcloud: bound on one storm (rclone serve restic retries lock removals for minutes)")
	flag.DurationVar(&c.checkLimit, "check-limit", 6*time.Minute, "freshread: bound on each restic command (init, backup, check --read-data); one cut off counts as exit -1")
	flag.DurationVar(&c.initWait, "fresh-init-wait", 4*time.Second, "freshread: pause between init and the backup (above 150s the key and config are no longer fresh: rclone serve restic can read them)")
	flag.Var(&c.variants, "variant", "throughput, prune: also run this steadyrest set-up in each round, as 'LABEL=BIN [FLAG...]' (BIN - for the --steadyrest binary); repeatable")
	flag.BoolVar(&c.sync, "sync", false, "throughput: run sync(1) before each backup and restore (not timed), so that none starts against the write-back another left")
	flag.BoolVar(&c.multiOneRedis, "multi-one-redis", false, "multi: also run 1 instance with the Redis overlay")
	flag.StringVar(&c.jsonOut, "json", "", "also write every sample to this JSON file")
	flag.Parse()
	if c.steadyrest == "" || c.rclone == "" || c.work == "" {
		flag.Usage()
		return fmt.Errorf("--steadyrest, --rclone and --work are required")
	}
	if c.rcloneStats == "" {
		c.rcloneStats = c.rclone
	}
	c.scenarios = map[string]bool{}
	for _, s := range strings.Split(scen, ",") {
		c.scenarios[strings.TrimSpace(s)] = true
	}
	if err := os.MkdirAll(c.work, 0o755); err != nil {
		return fmt.Errorf("work folder: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b := &bench{c: c, r: &restic{bin: c.restic, password: "steadyrest-bench", timeout: 30 * time.Minute}, res: &results{}}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"throughput", b.throughput},
		{"farcloud", b.farCloud},
		{"storm", b.storm},
		{"list", b.listing},
		{"farwebdav", b.farWebDAV},
		{"farissue", b.farIssue},
		{"pcloud", b.pcloudStorm},
		{"multi", b.multi},
		{"freshread", b.freshRead},
		{"prune", b.prune},
	}
	for _, s := range steps {
		if !c.scenarios[s.name] {
			continue
		}
		logf("== scenario %s", s.name)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	fmt.Print(b.res.markdown(c))
	if c.jsonOut != "" {
		j, err := json.MarshalIndent(b.res.samples, "", "  ")
		if err != nil {
			return fmt.Errorf("encode samples: %w", err)
		}
		if err := os.WriteFile(c.jsonOut, j, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", c.jsonOut, err)
		}
	}
	return nil
}

type bench struct {
	c   config
	r   *restic
	res *results
}

// kind names the two servers compared.
const (
	steady = "steadyrest"
	rclone = "rclone serve restic"
)

var kinds = []string{steady, rclone}

// spec returns how to run server kind over remote; stateDir is
// steadyrest's journal folder. statsFile, if set, asks rclone-lag-stats to
// write the lag counters of remote there.
func (b *bench) spec(kind, remote, stateDir, statsFile string) e2e.ServerSpec {
	var sp e2e.ServerSpec
	v, _, isVariant := b.variant(kind)
	switch {
	case isVariant:
		bin := v.bin
		if bin == "" {
			bin = b.c.steadyrest
		}
		sp = e2e.SteadyrestSpec(bin, remote, stateDir, append([]string{"--no-request-log", "--metrics-no-auth"}, v.flags...)...)
	case kind == steady:
		sp = e2e.SteadyrestSpec(b.c.steadyrest, remote, stateDir, "--no-request-log", "--metrics-no-auth")
	case statsFile != "":
		sp = e2e.RcloneServeResticSpec(b.c.rcloneStats, remote)
		sp.Env = append(sp.Env, "BENCH_LAGSTATS_FILE="+statsFile, "BENCH_LAGSTATS_REMOTE="+remote)
	default:
		sp = e2e.RcloneServeResticSpec(b.c.rclone, remote)
	}
	// Both get as long as the slower one needs: a slow stop is not measured.
	sp.StopTimeout = 15 * time.Second
	return sp
}

// sample is one measurement of one server in one round.
type sample struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	Server   string  `json:"server"`
	Round    int     `json:"round"`
	Value    float64 `json:"value"`
	Note     string  `json:"note,omitempty"`
}

type results struct {
	samples []sample
	order   []string // scenario|metric in first-seen order
	notes   []string
	// columns names the servers (or set-ups) a scenario compares, the
	// last one being the base the others are divided by; a scenario not
	// named here compares steadyrest with rclone serve restic.
	columns map[string][]string
}

// setColumns makes scenario a table of its own with these columns; the
// ratios divide each by base (which must be one of them).
func (r *results) setColumns(scenario, base string, others ...string) {
	if r.columns == nil {
		r.columns = map[string][]string{}
	}
	r.columns[scenario] = append(append([]string{}, others...), base)
}

// columnsOf returns scenario's columns in table order, base last.
func (r *results) columnsOf(scenario string) []string {
	if c, ok := r.columns[scenario]; ok {
		return c
	}
	return kinds
}

func (r *results) add(s sample) {
	key := s.Scenario + "|" + s.Metric + "|" + s.Unit
	found := false
	for _, k := range r.order {
		if k == key {
			found = true
		}
	}
	if !found {
		r.order = append(r.order, key)
	}
	r.samples = append(r.samples, s)
	logf("  %-10s %-34s %-20s round %d: %.3f %s %s", s.Scenario, s.Metric, s.Server, s.Round, s.Value, s.Unit, s.Note)
}

func (r *results) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	r.notes = append(r.notes, n)
	logf("  note: %s", n)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// markdown prints one table per set of columns (steadyrest against rclone
// serve restic, then e.g. 3 instances against 1), medians with the ratio of
// each column to the last (the base), then the notes.
func (r *results) markdown(c config) string {
	var sb strings.Builder
	var tables [][]string
	seen := map[string]bool{}
	for _, key := range r.order {
		cols := r.columnsOf(strings.SplitN(key, "|", 2)[0])
		if id := strings.Join(cols, "|"); !seen[id] {
			seen[id] = true
			tables = append(tables, cols)
		}
	}
	for _, cols := range tables {
		id := strings.Join(cols, "|")
		fmt.Fprintf(&sb, "\n| scenario | metric | %s |", strings.Join(cols, " | "))
		base := cols[len(cols)-1]
		for _, col := range cols[:len(cols)-1] {
			fmt.Fprintf(&sb, " ratio %s / %s |", col, base)
		}
		fmt.Fprintf(&sb, " samples (%s) |\n|---|---|%s\n", strings.Join(cols, "; "), strings.Repeat("---|", 2*len(cols)))
		for _, key := range r.order {
			parts := strings.SplitN(key, "|", 3)
			if strings.Join(r.columnsOf(parts[0]), "|") != id {
				continue
			}
			vals := map[string][]float64{}
			for _, s := range r.samples {
				if s.Scenario == parts[0] && s.Metric == parts[1] && s.Unit == parts[2] {
					vals[s.Server] = append(vals[s.Server], s.Value)
				}
			}
			med := make([]string, len(cols))
			all := make([]string, len(cols))
			for i, col := range cols {
				med[i], all[i] = num(median(vals[col])), nums(vals[col])
				if len(vals[col]) == 0 {
					med[i] = "-"
				}
			}
			fmt.Fprintf(&sb, "| %s | %s (%s) | %s |", parts[0], parts[1], parts[2], strings.Join(med, " | "))
			base := median(vals[cols[len(cols)-1]])
			for _, col := range cols[:len(cols)-1] {
				ratio := "-"
				if base != 0 && len(vals[col]) > 0 {
					ratio = fmt.Sprintf("%.2f", median(vals[col])/base)
				}
				fmt.Fprintf(&sb, " %s |", ratio)
			}
			fmt.Fprintf(&sb, " %s |\n", strings.Join(all, "; "))
		}
	}
	for _, n := range r.notes {
		fmt.Fprintf(&sb, "\n- %s", n)
	}
	sb.WriteString("\n")
	return sb.String()
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func nums(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = num(x)
	}
	return strings.Join(s, " ")
}

// roundDir is a fresh folder for one server in one round of a scenario.
func (b *bench) roundDir(scenario, kind string, round int) (string, error) {
	short := "steady"
	if kind == rclone {
		short = "rclone"
	}
	if _, i, ok := b.variant(kind); ok {
		short = fmt.Sprintf("variant%d", i+1)
	}
	return b.runDir(fmt.Sprintf("%s-%s-%d", scenario, short, round))
}

// runDir is a fresh folder named name under the work folder's runs/.
func (b *bench) runDir(name string) (string, error) {
	d := filepath.Join(b.c.work, "runs", name)
	if err := os.RemoveAll(d); err != nil {
		return "", fmt.Errorf("clean %s: %w", d, err)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("mkdir %s: %w", d, err)
	}
	return d, nil
}
