package shared

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

const stormPlans = 15

// newStorm prepares a 15-plan back-to-back storm on repo (init, snapshots
// and check go there; PlanRepo may send plans elsewhere).
func newStorm(t *testing.T, restic, repo string) *consistency.StormConfig {
	t.Helper()
	c := &consistency.StormConfig{
		Restic: restic, Repo: repo, WorkDir: t.TempDir(), Plans: stormPlans,
		// Far above a plan's few seconds, so a hang shows as a failure
		// rather than as the package's timeout.
		Timeout: 3 * time.Minute,
		Logf:    t.Logf,
	}
	if err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	return c
}

// runStormAsync runs c's storm in the background and returns a channel
// with its result. If the test ends early, its cleanup cancels the storm
// and waits for it, so that nothing logs after the test.
func runStormAsync(t *testing.T, c *consistency.StormConfig) <-chan consistency.StormResult {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan consistency.StormResult, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		out <- c.RunStorm(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return out
}

// tolerate says whether a non-JSON line of a command is allowed.
type tolerate func(cr consistency.CommandResult, line string) bool

// strict allows no line at all.
func strict(consistency.CommandResult, string) bool { return false }

// checkCommands fails the test unless every command of the storm ran,
// exited 0 and printed nothing but JSON and tolerated lines; it returns
// the number of tolerated lines.
func checkCommands(t *testing.T, c *consistency.StormConfig, res consistency.StormResult, tol tolerate) int {
	t.Helper()
	t.Logf("\n%s", res.Table())
	if want := 2 * c.Plans; len(res.Commands) != want {
		t.Errorf("%d commands ran, want %d", len(res.Commands), want)
	}
	allowed := 0
	for _, cr := range res.Commands {
		var bad []string
		for _, l := range cr.BadLines {
			if tol(cr, l) {
				allowed++
				continue
			}
			bad = append(bad, l)
		}
		if cr.Code != 0 || len(bad) > 0 {
			t.Errorf("%s %s through %s: exit %d, lines that are not JSON: %q\n%s",
				consistency.PlanName(cr.Plan), cr.Command, cr.Repo, cr.Code, bad, cr.Output)
		}
	}
	return allowed
}

// checkSnapshots fails the test unless, seen through every one of views
// (name -> repository URL), each plan has exactly one snapshot and there
// are no others.
func checkSnapshots(t *testing.T, c *consistency.StormConfig, views map[string]string) {
	t.Helper()
	names := make([]string, 0, len(views))
	for n := range views {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		snaps, err := c.SnapshotsOn(context.Background(), views[n])
		if err != nil {
			t.Errorf("snapshots through %s: %v", n, err)
			continue
		}
		per := map[string]int{}
		for _, s := range snaps {
			per[s.Hostname]++
		}
		for i := range c.Plans {
			if per[consistency.PlanName(i)] != 1 {
				t.Errorf("through %s, %s has %d snapshots, want 1 (all: %v)", n, consistency.PlanName(i), per[consistency.PlanName(i)], per)
			}
		}
		if len(snaps) != c.Plans {
			t.Errorf("through %s: %d snapshots, want %d", n, len(snaps), c.Plans)
		}
	}
}

// checkRepo runs restic check (with extra flags) through repo and fails
// the test unless it finds no error.
func checkRepo(t *testing.T, c *consistency.StormConfig, repo string, extra ...string) {
	t.Helper()
	code, out, err := c.RunOn(context.Background(), repo, "check", append([]string{"check"}, extra...)...)
	if err != nil || code != 0 || !strings.Contains(out, "no errors were found") {
		t.Errorf("restic check %s through %s: exit %d (%v)\n%s", strings.Join(extra, " "), repo, code, err, out)
	}
}

// checkNoLocks fails the test unless restic lists no lock through repo:
// every command removed its lock, and no removed lock came back.
func checkNoLocks(t *testing.T, c *consistency.StormConfig, repo string) {
	t.Helper()
	code, out, err := c.RunOn(context.Background(), repo, "locks", "list", "locks", "--no-lock")
	if err != nil || code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("restic list locks through %s: exit %d (%v), want none:\n%s", repo, code, err, out)
	}
}

// checkRequestLogs checks the contract over the merged request logs of
// every instance (a killed one's log up to its death included): no read
// missed an acknowledged write, no read found a deleted object. It
// returns the merged requests.
func checkRequestLogs(t *testing.T, logs map[string]string, repo string) map[string][]e2e.Request {
	t.Helper()
	reqs, err := e2e.MergeRequests(logs, repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) < 50 {
		t.Fatalf("parsed requests on only %d objects of %s from the instances' request logs: is the log format still the one e2e.ObjectRequests expects?", len(reqs), repo)
	}
	for _, v := range e2e.ReadYourWritesViolations(reqs) {
		t.Errorf("read your writes violated across instances: %s", v)
	}
	for _, v := range e2e.DeletesStickViolations(reqs) {
		t.Errorf("a delete did not stick across instances: %s", v)
	}
	return reqs
}

// lockNames are the locks a client wrote (POST answered 200).
func lockNames(reqs map[string][]e2e.Request) []string {
	var out []string
	for key, rs := range reqs {
		name, ok := strings.CutPrefix(key, "locks/")
		if !ok {
			continue
		}
		for _, r := range rs {
			if r.Method == "POST" && r.Status == 200 {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// waitLocksReaped fails the test unless, within d, the emulator really
// holds none of the locks written into repoDir (the remote folder of the
// repository): every delete the remote refused as too fresh was retried
// by some instance until it took.
func waitLocksReaped(t *testing.T, emu *e2e.Emulator, repoDir string, names []string, d time.Duration) {
	t.Helper()
	if len(names) == 0 {
		t.Errorf("no lock was written into %s: nothing to check", repoDir)
		return
	}
	start := time.Now()
	var left []string
	for {
		left = left[:0]
		for _, n := range names {
			if emu.Stored(path.Join(repoDir, "locks", n)) {
				left = append(left, n)
			}
		}
		if len(left) == 0 {
			t.Logf("all %d locks written into %s are gone from the remote itself, %v after the check began", len(names), repoDir, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(start) > d {
			t.Errorf("%d of %d locks are still stored on the remote %v after the storm (nobody reaped them): %v", len(left), len(names), d, left)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// listing is one listing of locks/ through one instance, as a client saw
// it.
type listing struct {
	server     string
	start, end time.Time
	status     int // 0: no answer (the instance is down)
	names      map[string]bool
}

// lockWatcher lists locks/ through every instance, over and over, while a
// storm runs, to catch a deleted lock that comes back or an acknowledged
// one that is missing, on any instance.
type lockWatcher struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []listing
}

// watchLocks starts listing bases (instance name -> http://host:port/repo)
// every interval until Stop.
func watchLocks(bases map[string]string, every time.Duration) *lockWatcher {
	w := &lockWatcher{stop: make(chan struct{})}
	hc := &http.Client{Timeout: 10 * time.Second}
	for name, base := range bases {
		w.wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				l := listLocks(hc, name, base)
				w.mu.Lock()
				w.seen = append(w.seen, l)
				w.mu.Unlock()
				select {
				case <-w.stop:
					return
				case <-tick.C:
				}
			}
		})
	}
	return w
}

func listLocks(hc *http.Client, name, base string) listing {
	l := listing{server: name, start: time.Now()}
	defer func() { l.end = time.Now() }()
	req, err := http.NewRequest(http.MethodGet, base+"/locks/", nil)
	if err != nil {
		return l
	}
	req.Header.Set("Accept", "application/vnd.x.restic.rest.v2")
	resp, err := hc.Do(req)
	if err != nil {
		l.end = time.Now()
		return l
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	l.end = time.Now()
	if err != nil {
		return l
	}
	l.status = resp.StatusCode
	if l.status != http.StatusOK {
		return l
	}
	var entries []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &entries); err != nil {
		l.status = -1 // a 200 that is not a listing: counted as bad below
		return l
	}
	l.names = map[string]bool{}
	for _, e := range entries {
		l.names[e.Name] = true
	}
	return l
}

// Stop ends the watch and returns every listing made.
func (w *lockWatcher) Stop() []listing {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// checkListings holds the watcher's listings against the requests the
// instances logged: a listing that began after a lock's DELETE was
// answered 200 must not show it (no write of it started since), and one
// that began after its POST was answered 200, and ended before any DELETE
// of it began, must show it. It fails the test on a violation and returns
// how many listings answered 200 and how many did not.
func checkListings(t *testing.T, seen []listing, reqs map[string][]e2e.Request) (ok, failed int) {
	t.Helper()
	type life struct{ posts, deletes []e2e.Request }
	locks := map[string]*life{}
	for key, rs := range reqs {
		name, isLock := strings.CutPrefix(key, "locks/")
		if !isLock {
			continue
		}
		lf := &life{}
		for _, r := range rs {
			switch {
			case r.Method == "POST" && r.Status == 200:
				lf.posts = append(lf.posts, r)
			case r.Method == "DELETE":
				// Any DELETE, whatever its answer, may have taken effect.
				lf.deletes = append(lf.deletes, r)
			}
		}
		locks[name] = lf
	}
	// One message per lock, instance and kind of violation: the first
	// listing that showed it, and how many did.
	type finding struct {
		first string
		n     int
	}
	found := map[string]*finding{}
	var order []string
	report := func(key, msg string) {
		if f := found[key]; f != nil {
			f.n++
			return
		}
		found[key] = &finding{first: msg, n: 1}
		order = append(order, key)
	}
	var bad []string
	for _, l := range seen {
		if l.status == -1 {
			bad = append(bad, fmt.Sprintf("listing through %s at %s answered 200 with a body that is not a v2 listing", l.server, l.start.Format("15:04:05.000")))
		}
		if l.status != http.StatusOK {
			failed++
			continue
		}
		ok++
		for name, lf := range locks {
			deletedBefore, writtenSince := false, false
			for _, d := range lf.deletes {
				if d.Status == 200 && d.End.Before(l.start) {
					deletedBefore = true
					for _, p := range lf.posts {
						if p.Start.After(d.Start) && p.Start.Before(l.end) {
							writtenSince = true
						}
					}
				}
			}
			if l.names[name] && deletedBefore && !writtenSince {
				report("back "+name+l.server, fmt.Sprintf("lock %s, deleted before, is listed again through %s at %s", name[:10], l.server, l.start.Format("15:04:05.000")))
			}
			// The last write acknowledged before the listing began, and
			// whether a DELETE began after it and before the listing ended.
			var acked *e2e.Request
			for i, p := range lf.posts {
				if p.End.Before(l.start) && (acked == nil || p.Start.After(acked.Start)) {
					acked = &lf.posts[i]
				}
			}
			deleteBegun := false
			for _, d := range lf.deletes {
				if acked != nil && d.Start.After(acked.Start) && d.Start.Before(l.end) {
					deleteBegun = true
				}
			}
			if acked != nil && !deleteBegun && !l.names[name] {
				report("missing "+name+l.server, fmt.Sprintf("lock %s, written and not deleted, is missing from a listing through %s at %s", name[:10], l.server, l.start.Format("15:04:05.000")))
			}
		}
	}
	for _, k := range order {
		bad = append(bad, fmt.Sprintf("%s (%d listings)", found[k].first, found[k].n))
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s", b)
	}
	return ok, failed
}

// retryRE matches restic's line for a backend call it retries, and
// recoveredRE the line once such a call succeeded.
var (
	retryRE     = regexp.MustCompile(`^\S+\(.*\) returned error, retrying after \S+: (.+)$`)
	recoveredRE = regexp.MustCompile(`^\S+\(.*\) operation successful after \d+ retries$`)
)

// retriesDuring tolerates, in the commands that ran during a fault (from
// to to), restic's retries of a request whose error matches, counted in
// n, and its lines saying an operation succeeded after retries.
func retriesDuring(from, to time.Time, match func(err string) bool, n *int) tolerate {
	return func(cr consistency.CommandResult, line string) bool {
		if !overlaps(cr, from, to) {
			return false
		}
		if m := retryRE.FindStringSubmatch(line); m != nil && match(m[1]) {
			*n++
			return true
		}
		return recoveredRE.MatchString(line)
	}
}

// overlaps reports whether command cr ran at some moment in [from, to].
func overlaps(cr consistency.CommandResult, from, to time.Time) bool {
	return !cr.Start.After(to) && !cr.Start.Add(cr.Duration).Before(from)
}

// httpGet answers the status and body of GET url (0 when no answer).
func httpGet(url string) (int, string) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitStatus polls GET url until it answers want, for at most d; it
// returns when that happened, or fails the test.
func waitStatus(t *testing.T, url string, want int, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, body := httpGet(url)
		if code == want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d (%s) after %v, want %d", url, code, body, d, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
