package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// freshSize is the data the freshread scenario backs up: one file of
// incompressible data, a few restic packs above the content cache's
// 1 MiB limit.
const freshSize = 40 << 20

// freshOptions is a pCloud that hides new files from listings for 3 s,
// refuses deletes of files younger than 150 s, and refuses download links
// (getfilelink answers 2009) for files younger than 150 s.
func freshOptions() pcloudemu.Options {
	return pcloudemu.Options{ListLag: 3 * time.Second, FreshDeleteFails: true, FreshLinkFails: true, FreshWindow: 150 * time.Second}
}

// freshSetup is one server the freshread scenario runs the commands
// through.
type freshSetup struct {
	column, slug, kind string
	extra              []string // steadyrest flags
}

var freshSetups = []freshSetup{
	{column: steady, slug: "steady", kind: steady},
	{column: "steadyrest --spool-bytes 0", slug: "nospool", kind: steady, extra: []string{"--spool-bytes", "0"}},
	{column: rclone, slug: "rclone", kind: rclone},
}

// resticWarning matches the lines restic prints when a backend call fails
// ("Load(<data/…>, 0, 0) returned error, retrying after …",
// "Remove(<lock/…>) returned error, retrying after …", "… failed: …")
// or when it gives up ("Fatal: …").
var resticWarning = regexp.MustCompile(`returned error|retrying|failed|Fatal`)

// warningLines counts restic's warning lines in output, and of them those
// about a lock file (restic retrying the removal of its lock, which a
// pCloud refuses while the lock is fresh), which are not about reading
// data.
func warningLines(output string) (all, locks int) {
	for _, line := range strings.Split(output, "\n") {
		if !resticWarning.MatchString(line) {
			continue
		}
		all++
		if strings.Contains(line, "<lock/") {
			locks++
		}
	}
	return all, locks
}

// progressCount matches the end of restic's progress lines for a stage
// counted in unit: "[0:00] 100.00%  4 / 4 packs" (done / total) or, when
// there was nothing to do, "[0:00]          0 packs".
func progressCount(unit string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)\]\s+(?:[0-9.]+%\s+)?(\d+)(?: / (\d+))? ` + unit + `\s*$`)
}

var (
	packsRE     = progressCount("packs")
	snapshotsRE = progressCount("snapshots")
)

// checked returns how many items check's last progress line for re says
// were done, or -1 when there is none (check stopped before that stage).
// A check that lists no snapshot and reads no pack exits 0 ("no errors
// were found") on a remote that does not list them yet: its exit code
// alone does not say it checked anything.
func checked(re *regexp.Regexp, output string) int {
	m := re.FindAllStringSubmatch(output, -1)
	if len(m) == 0 {
		return -1
	}
	n, err := strconv.Atoi(m[len(m)-1][1])
	if err != nil {
		return -1
	}
	return n
}

// emuDelta is what the emulator answered between two readings of its
// Stats: calls by method, and refusals of fresh links.
type emuDelta struct {
	calls        map[string]float64
	total        float64
	linkRefusals float64
}

func emuDiff(before, after pcloudemu.Stats) emuDelta {
	b, a := map[string]float64{}, map[string]float64{}
	for k, v := range before.Calls {
		b[k] = float64(v)
	}
	for k, v := range after.Calls {
		a[k] = float64(v)
	}
	d := emuDelta{linkRefusals: float64(after.FreshLinkRefusals - before.FreshLinkRefusals)}
	d.calls, d.total = diff(b, a)
	return d
}

// freshRead: on the pCloud emulator with download links of fresh files
// refused for 150 s, `restic init`, a backup of 40 MiB of incompressible
// data, then at once `restic check --read-data`, through steadyrest, the
// same without its spool, and rclone serve restic, one after the other in
// each round. Counted: the check's wall time, exit code and warning
// lines, and the emulator's getfilelink, download and fresh-link refusals
// while it ran.
func (b *bench) freshRead(ctx context.Context) error {
	data := filepath.Join(b.c.work, fmt.Sprintf("data-%d", freshSize))
	logf("generating %d MiB of data in %s (once)", freshSize>>20, data)
	if err := genData(data, freshSize); err != nil {
		return err
	}
	emu, err := startEmulator(b.c.work)
	if err != nil {
		return err
	}
	defer emu.close()
	emu.SetOptions(withLogger(freshOptions(), emu))
	cols := make([]string, 0, len(freshSetups))
	for _, s := range freshSetups[:len(freshSetups)-1] {
		cols = append(cols, s.column)
	}
	b.res.setColumns("freshread", freshSetups[len(freshSetups)-1].column, cols...)
	for round := 1; round <= b.c.rounds; round++ {
		for _, st := range freshSetups {
			logf("  freshread round %d: %s", round, st.column)
			if err := b.freshOne(ctx, emu, st, data, round); err != nil {
				return fmt.Errorf("%s round %d: %w", st.column, round, err)
			}
		}
	}
	st := emu.Stats()
	b.res.note("freshread: one pCloud emulator in the bench process (list lag 3s; deletes and download links of files younger than 150 s refused: %d links and %d deletes refused in all), a folder of its own per server and round; `restic init`, a pause of %v (--fresh-init-wait; 4 s as in the storm scenarios lets the new key be listed, but only above 150 s can the remote serve it), `restic backup --no-scan` of %d MiB of incompressible data (one file), then at once `restic check --read-data`, each bounded by --check-limit (%v; cut off = exit -1). Warning lines are restic's output lines matching %q; \"of them about locks\" name a lock/ file (restic retrying the removal of its own lock, which the emulator refuses for 150 s). Snapshots seen and packs read are from restic's last progress line of each stage (a check on a remote that does not list the new files yet sees 0 and exits 0). Emulator calls are counted from just before the check to its end.",
		st.FreshLinkRefusals, st.FreshDeleteRefusals, b.c.initWait, freshSize>>20, b.c.checkLimit, resticWarning.String())
	return nil
}

// freshOne runs the freshread commands through one server.
func (b *bench) freshOne(ctx context.Context, emu *emulator, st freshSetup, data string, round int) error {
	name := fmt.Sprintf("freshread-%s-%d", st.slug, round)
	dir := filepath.Join(b.c.work, "runs", name)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clean %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	// A folder of its own on the emulator.
	remote := emuRemoteName + ":" + name
	var spec e2e.ServerSpec
	if st.kind == steady {
		extra := append([]string{"--rclone-config", emu.conf, "--no-request-log", "--metrics-no-auth"}, st.extra...)
		spec = e2e.SteadyrestSpec(b.c.steadyrest, remote, filepath.Join(dir, "state"), extra...)
	} else {
		// The command-line --config wins over the spec's RCLONE_CONFIG.
		spec = e2e.RcloneServeResticSpec(b.c.rclone, remote, "--config", emu.conf)
	}
	spec.StopTimeout = 15 * time.Second
	return withServer(spec, func(srv *e2e.Server) error {
		repo := srv.URL("repo")
		cache := filepath.Join(dir, "cache")
		add := func(metric, unit string, v float64, note string) {
			b.res.add(sample{Scenario: "freshread", Metric: metric, Unit: unit, Server: st.column, Round: round, Value: v, Note: note})
		}
		limit := b.c.checkLimit
		_, code, out := b.r.runCode(ctx, limit, repo, cache, "init")
		if code != 0 {
			// Without a repository there is nothing to measure: say so.
			return fmt.Errorf("restic init: exit %d\n%s", code, tail(out, 2000))
		}
		time.Sleep(b.c.initWait)
		d, code, out := b.r.runCode(ctx, limit, repo, cache, "backup", "--no-scan", data)
		all, locks := warningLines(out)
		add("backup (before the check)", "s", d.Seconds(), fmt.Sprintf("exit %d, %d warning lines (%d about locks)", code, all, locks))
		add("backup exit code", "code", float64(code), "")
		if code != 0 {
			logf("    backup through %s: exit %d\n%s", st.column, code, tail(out, 2000))
		}
		before := emu.Stats()
		var spoolBefore map[string]float64
		if st.kind == steady {
			var err error
			if _, spoolBefore, err = metricSum(srv.Addr, "steadyrest_overlay_events_total"); err != nil {
				logf("warning: %v", err)
			}
		}
		d, code, out = b.r.runCode(ctx, limit, repo, cache, "check", "--read-data")
		after := emu.Stats()
		delta := emuDiff(before, after)
		all, locks = warningLines(out)
		logf("    check --read-data through %s: exit %d, %v, %d warning lines\n%s", st.column, code, d.Round(time.Millisecond), all, tail(out, 3000))
		add("check --read-data", "s", d.Seconds(), "")
		add("check --read-data exit code", "code", float64(code), "")
		add("check --read-data warning lines", "lines", float64(all), "")
		add("check --read-data warning lines, of them about locks", "lines", float64(locks), "")
		add("snapshots the check saw (-1: none reported)", "snapshots", float64(checked(snapshotsRE, out)), "")
		add("packs the check read (-1: none reported)", "packs", float64(checked(packsRE, out)), "")
		add("during the check: getfilelink", "calls", delta.calls["getfilelink"], "")
		add("during the check: download", "calls", delta.calls["download"], "")
		add("during the check: fresh links refused", "refusals", delta.linkRefusals, "")
		add("during the check: API calls, all methods", "calls", delta.total, fmtCounts(delta.calls))
		if st.kind == steady {
			_, spoolAfter, err := metricSum(srv.Addr, "steadyrest_overlay_events_total")
			if err != nil {
				logf("warning: %v", err)
			} else if spoolBefore != nil {
				add("during the check: reads served from the spool (spool_read events)", "reads", spoolAfter["event=spool_read"]-spoolBefore["event=spool_read"], "")
			}
		}
		return nil
	})
}
