package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// startEmulator runs the pCloud emulator as its own process (so its state
// outlives steadyrest's crash) and returns the rclone.conf it wrote.
func startEmulator(t *testing.T, args ...string) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	e2e.StartServer(t, e2e.PcloudEmulatorSpec(emulatorBin, conf, "pcloud", args...))
	return conf
}

// snapshotIDs returns the snapshot_id of every backup summary in restic's
// --json output.
func snapshotIDs(stdout string) []string {
	var ids []string
	for _, line := range strings.Split(stdout, "\n") {
		var m struct {
			Type string `json:"message_type"`
			ID   string `json:"snapshot_id"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Type == "summary" && m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// SIGKILL steadyrest in the middle of a storm of parallel backup+forget
// plans over the pCloud emulator (its own process, listing lag and
// fresh-delete failures), restart it with the same state folder, finish the
// plans: every reported snapshot is there, the repository checks clean, no
// lock is left or comes back.
func TestSigkillDuringStorm(t *testing.T) {
	restic := e2e.DefaultRestic(t)
	conf := startEmulator(t, "-list-lag", "2s", "-fresh-delete-fails", "-seed", "5")
	env := []string{"RCLONE_CONFIG=" + conf}
	remote := "pcloud:repo"

	// The repository exists before the storm (made through another state
	// folder, then given time to show in listings).
	initSrv := startSteadyrest(t, remote, t.TempDir(), "127.0.0.1:0", env)
	e2e.NewRestic(t, restic, initSrv.URL("r")).MustRun("init")
	mustStop(t, initSrv)
	time.Sleep(3 * time.Second)

	state := t.TempDir()
	srv := startSteadyrest(t, remote, state, "127.0.0.1:0", env)
	addr := srv.Addr

	const plans = 6
	type planResult struct {
		ids      []string // snapshot ids restic reported, in order
		forgotOK bool
		outputs  []string
	}
	results := make([]planResult, plans)
	runPlan := func(i int, url string) bool {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("plan%d", i))
		e2e.GenerateTree(t, dir, e2e.TreeOptions{Seed: uint64(100 + i), Dirs: 2, FilesPerDir: 6, Medium: 1})
		r := e2e.NewRestic(t, restic, url)
		r.Timeout = 4 * time.Minute
		host := fmt.Sprintf("host%d", i)
		b := r.RunIn(dir, "backup", "--json", "--host", host, "--retry-lock", "5m", ".")
		res := &results[i]
		res.outputs = append(res.outputs, b.Output)
		res.ids = append(res.ids, snapshotIDs(b.Stdout)...)
		if b.Code != 0 {
			return false
		}
		f := r.Run("forget", "--host", host, "--keep-last", "1", "--retry-lock", "5m")
		res.outputs = append(res.outputs, f.Output)
		res.forgotOK = f.Code == 0
		return res.forgotOK
	}

	var wg sync.WaitGroup
	ok := make([]bool, plans)
	for i := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = runPlan(i, srv.URL("r"))
		}()
	}
	// Crash once the storm is under way: some snapshots saved, others in
	// flight.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && countMatches(srv.Log(), `method=DELETE path=/r/locks/\S+ status=200`) < 2 {
		time.Sleep(50 * time.Millisecond)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, m := range regexp.MustCompile(`method=DELETE path=/r/locks/([0-9a-f]{64}) status=200`).FindAllStringSubmatch(srv.Log(), -1) {
		deleted = append(deleted, m[1])
	}
	deletesBefore := len(deleted)
	t.Logf("SIGKILL after %d snapshot uploads and %d lock deletes", countMatches(srv.Log(), `method=POST path=/r/snapshots/\S+ status=200`), deletesBefore)

	// Same port, so the restic processes in flight reconnect.
	again := startSteadyrest(t, remote, state, addr, env)
	// The locks deleted before the crash must not come back, although the
	// emulator still lists them (listing lag) or kept them (fresh delete).
	checkLocks := func(when string) {
		resp, err := http.Get("http://" + again.Addr + "/r/locks/")
		if err != nil {
			t.Fatalf("list locks %s: %v", when, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, id := range deleted {
			if strings.Contains(string(body), id) {
				t.Errorf("lock %s deleted before the crash is listed %s", id[:10], when)
			}
		}
	}
	checkLocks("right after the restart")
	wg.Wait()
	checkLocks("after the storm")
	// Finish the plans that failed.
	reruns := 0
	for i := range plans {
		if !ok[i] {
			reruns++
			if !runPlan(i, again.URL("r")) {
				t.Errorf("plan %d failed again after the restart:\n%s", i, strings.Join(results[i].outputs, "\n---\n"))
			}
		}
	}
	if !strings.Contains(again.Log(), "overlay records reloaded") {
		t.Errorf("the restarted steadyrest did not reload journal records")
	}

	r := e2e.NewRestic(t, restic, again.URL("r"))
	r.Timeout = 4 * time.Minute
	var listed []struct {
		ID       string `json:"id"`
		Hostname string `json:"hostname"`
	}
	if err := json.Unmarshal([]byte(r.MustRun("snapshots", "--json").Stdout), &listed); err != nil {
		t.Fatalf("snapshots --json: %v", err)
	}
	have := map[string]bool{}
	for _, s := range listed {
		have[s.ID] = true
	}
	reported := 0
	for i, res := range results {
		reported += len(res.ids)
		if len(res.ids) == 0 {
			t.Errorf("plan %d never reported a snapshot", i)
			continue
		}
		// forget --keep-last 1 may drop a plan's earlier snapshots; its
		// last one must be there.
		if last := res.ids[len(res.ids)-1]; !have[last] {
			t.Errorf("plan %d: snapshot %s reported saved is not listed", i, last)
		}
	}
	r.MustRun("check", "--read-data")
	if locks := strings.TrimSpace(r.MustRun("list", "locks").Stdout); locks != "" {
		t.Errorf("locks left after the storm: %s", locks)
	}
	stale := 0
	for _, res := range results {
		for _, out := range res.outputs {
			stale += strings.Count(out, "stale")
		}
	}
	if stale > 0 {
		t.Errorf("%d stale-lock messages in restic output", stale)
	}
	waits := 0
	for _, res := range results {
		for _, out := range res.outputs {
			waits += strings.Count(out, "already locked")
		}
	}
	t.Logf("storm: %d lock waits (--retry-lock, live locks)", waits)
	t.Logf("storm: %d plans, %d re-run after the crash, %d snapshots reported, %d listed; lock deletes before the kill: %d",
		plans, reruns, reported, len(listed), deletesBefore)
	mustStop(t, again)
}
