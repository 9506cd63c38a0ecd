package shared

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
	"github.com/steadyrest/steadyrest/internal/redistest"
)

// sharedCluster is three instances with one --shared on one lagging
// remote path, and a per-request balancer over them.
type sharedCluster struct {
	emu   *e2e.Emulator
	redis *redistest.Server
	cl    *Cluster
	lb    *Balancer
	path  string
	dead  map[int]bool // instances a test killed
}

func startShared(t *testing.T, path string, redisOpt redistest.Options, extra ...string) *sharedCluster {
	t.Helper()
	s := &sharedCluster{path: path, dead: map[int]bool{}}
	s.emu = e2e.StartEmulator(t, LaggingPcloud())
	s.redis = redistest.Start(t, redisOpt)
	s.cl = StartCluster(t, ClusterOptions{Bin: steadyrestBin, N: 3, Emulator: s.emu, Path: path,
		Shared: s.redis.URL(), RequestLog: true, Extra: extra})
	s.lb = s.cl.Balancer(t)
	return s
}

// startStorm inits c's repository and runs its storm in the background,
// with a watcher of repo's locks on every instance; finished counts the
// commands done so far.
func (s *sharedCluster) startStorm(t *testing.T, c *consistency.StormConfig, repo string) (finished *atomic.Int64, w *lockWatcher, done <-chan consistency.StormResult) {
	t.Helper()
	finished = new(atomic.Int64)
	c.Logf = func(format string, args ...any) {
		t.Logf(format, args...)
		finished.Add(1)
	}
	if err := c.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return finished, s.watch(repo), runStormAsync(t, c)
}

// views are the repository through every live instance, for
// checkSnapshots.
func (s *sharedCluster) views(repo string) map[string]string {
	out := map[string]string{}
	for i, srv := range s.cl.Instances {
		if !s.dead[i] {
			out[srv.Spec.Name] = s.cl.Repo(i, repo)
		}
	}
	return out
}

// watch lists repo's locks through every instance every 300 ms (a killed
// instance's listings fail and are counted apart).
func (s *sharedCluster) watch(repo string) *lockWatcher {
	bases := map[string]string{}
	for i, srv := range s.cl.Instances {
		bases[srv.Spec.Name] = s.cl.Base(i, repo)
	}
	return watchLocks(bases, 300*time.Millisecond)
}

// stormChecks loosen checkStorm for a storm with a fault.
type stormChecks struct {
	tol tolerate // non-JSON lines allowed (default: none)
	// listingOK says whether a lock listing may fail (an instance killed,
	// Redis down); default: none may.
	listingOK func(l listing) bool
	readData  bool // check --read-data
	// reapWithin bounds the wait for the remote to hold no lock
	// (default 30 s).
	reapWithin time.Duration
}

// checkStorm is what a storm on instances sharing an overlay must show:
// every command exits 0 and prints only JSON (but for lines ck.tol
// allows), each live instance lists every plan's one snapshot, check
// passes, no lock is left or comes back, the instances' request logs and
// the lock listings hold the contract across instances, and the remote
// itself ends with no lock (every refused delete was retried until it
// took, by whichever instance). checkVia is the repository URL check and
// list locks use.
func (s *sharedCluster) checkStorm(t *testing.T, c *consistency.StormConfig, res consistency.StormResult, w *lockWatcher, repo, checkVia string, ck stormChecks) {
	t.Helper()
	seen := w.Stop()
	if ck.tol == nil {
		ck.tol = strict
	}
	if ck.reapWithin == 0 {
		ck.reapWithin = 30 * time.Second
	}
	// The storm's locks must leave the remote while the checks below run.
	stormReqs, err := e2e.MergeRequests(s.cl.Logs(), repo)
	if err != nil {
		t.Fatal(err)
	}
	locks := lockNames(stormReqs)
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		waitLocksReaped(t, s.emu, s.path+"/"+repo, locks, ck.reapWithin)
	}()
	defer func() { <-reaped }()

	checkCommands(t, c, res, ck.tol)
	checkSnapshots(t, c, s.views(repo))
	checkNoLocks(t, c, checkVia)
	if ck.readData {
		checkRepo(t, c, checkVia, "--read-data")
	} else {
		checkRepo(t, c, checkVia)
	}
	// Now with the checks' own requests too.
	reqs := checkRequestLogs(t, s.cl.Logs(), repo)
	for _, l := range seen {
		if l.status != 200 && (ck.listingOK == nil || !ck.listingOK(l)) {
			t.Errorf("lock listing through %s at %s: status %d", l.server, l.start.Format("15:04:05.000"), l.status)
		}
	}
	ok, failed := checkListings(t, seen, reqs)
	if ok < 30 {
		t.Errorf("only %d lock listings answered during the storm, want at least 30", ok)
	}
	t.Logf("contract held over %d objects in the request logs and %d lock listings through the instances (%d listings failed as allowed); %d locks written by the storm",
		len(reqs), ok, failed, len(locks))
}

// TestSharedOverlay: three instances with one --shared on the lagging
// remote serve one repository as one strongly consistent server would,
// whether clients stick to an instance or every request goes to the next.
// The instances, Redis and the emulator are shared by the subtests; each
// uses its own repository.
func TestSharedOverlay(t *testing.T) {
	// The storms here and in the kill and Redis tests mostly wait on the
	// remote's lag and restic's key derivation: two at a time fit the
	// 2-core budget (-parallel defaults to GOMAXPROCS).
	t.Parallel()
	restic := e2e.DefaultRestic(t)
	s := startShared(t, "multi", redistest.Options{})

	// (a) restic's REST backend suite through the per-request balancer.
	t.Run("suite-balanced", func(t *testing.T) {
		absorbed := func() int {
			n := 0
			for _, log := range s.cl.Logs() {
				n += strings.Count(log, `msg="delete absorbed`)
			}
			return n
		}
		before := absorbed()
		served := s.lb.Served()
		r := e2e.RunRESTSuite(t, s.lb.Repo("suite"), 5*time.Minute)
		subs := len(r.Subtests())
		if !r.Clean() || subs < 20 {
			t.Fatalf("restic's REST suite through a per-request balancer over 3 instances with one overlay: err=%v top passed=%v, %d subtests passed, failed=%v skipped=%v (%v)\n%s",
				r.Err, r.TopPassed, subs, r.Failed, r.Skipped, r.Elapsed, r.Out)
		}
		after := s.lb.Served()
		for i := range after {
			if n := after[i] - served[i]; n < 20 {
				t.Errorf("instance %d got only %d of the suite's requests: the balancer did not spread them", i, n)
			}
		}
		// A delete the remote could not do yet (the object still hidden
		// by its lag) is absorbed: the suite exercised delete-before-
		// visible across instances.
		if n := absorbed() - before; n == 0 {
			t.Errorf("no instance absorbed a delete during the suite: delete-before-visible was not exercised")
		}
		t.Logf("restic REST suite through the balancer over 3 instances (requests per instance %v): %d subtests passed, 0 failed, 0 skipped, in %v",
			diff(after, served), subs, r.Elapsed)
	})

	// (b) the storm with plan i through instance (i+1)%3: plan 0 runs
	// right after init, through an instance that did not run it.
	t.Run("storm-spread", func(t *testing.T) {
		c := newStorm(t, restic, s.cl.Repo(0, "spread"))
		c.PlanRepo = func(i int) string { return s.cl.Repo((i+1)%3, "spread") }
		ctx := context.Background()
		if err := c.Init(ctx); err != nil {
			t.Fatal(err)
		}
		w := s.watch("spread")
		res := c.RunStorm(ctx)
		s.checkStorm(t, c, res, w, "spread", s.cl.Repo(2, "spread"), stormChecks{})
		t.Logf("storm of %d plans back to back, spread over 3 instances sharing one overlay: %v", c.Plans, res.Wall.Round(time.Millisecond))
	})

	// (b) the same storm, every request to the next instance.
	t.Run("storm-balanced", func(t *testing.T) {
		c := newStorm(t, restic, s.lb.Repo("balanced"))
		ctx := context.Background()
		served := s.lb.Served()
		if err := c.Init(ctx); err != nil {
			t.Fatal(err)
		}
		w := s.watch("balanced")
		res := c.RunStorm(ctx)
		s.checkStorm(t, c, res, w, "balanced", s.lb.Repo("balanced"), stormChecks{})
		per := diff(s.lb.Served(), served)
		for i, n := range per {
			if n < 100 {
				t.Errorf("instance %d got only %d requests of the storm through the balancer", i, n)
			}
		}
		t.Logf("storm of %d plans back to back through a per-request balancer over 3 instances (requests per instance %v): %v",
			c.Plans, per, res.Wall.Round(time.Millisecond))
	})

	// (f) concurrent lock operations, each client's calls rotating over
	// the instances, form a linearizable history.
	t.Run("linearizable", func(t *testing.T) {
		hist := consistency.RecordLockHistory(t, consistency.LinConfig{
			Bases: s.cl.Bases("lin"), Clients: 6, Keys: 3, OpsPerClient: 60, Duration: 6 * time.Second, Strict: true,
		})
		if len(hist) < 100 {
			t.Fatalf("only %d operations recorded", len(hist))
		}
		if res := consistency.CheckLockHistory(t, "shared-overlay", hist, true); res != porcupine.Ok {
			t.Fatalf("history of %d lock operations spread over 3 instances with one overlay is not linearizable: %v", len(hist), res)
		}
		t.Logf("%d lock operations (lists counted per key) by 6 clients, each call to the next of 3 instances: linearizable", len(hist))
	})
}

// diff is a-b per element.
func diff(a, b []int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}
