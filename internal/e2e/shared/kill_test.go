package shared

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/redistest"
)

// lostRequestRE is the error restic retries when an instance died under
// one of its requests: the balancer's 502, or the connection cut
// mid-answer.
var lostRequestRE = regexp.MustCompile(`502|Bad Gateway|EOF|connection reset`)

// leaderRE is the gauge of the instance that holds the shared overlay's
// background lease (it reaps and confirms for all instances).
var leaderRE = regexp.MustCompile(`(?m)^steadyrest_shared_overlay_leader 1$`)

// leaders returns the live instances that say they hold the background
// lease.
func (s *sharedCluster) leaders() []int {
	var out []int
	for i, srv := range s.cl.Instances {
		if s.dead[i] {
			continue
		}
		if code, body := httpGet("http://" + srv.Addr + "/metrics"); code == http.StatusOK && leaderRE.MatchString(body) {
			out = append(out, i)
		}
	}
	return out
}

// TestKillInstanceMidStorm: three instances with one overlay behind the
// per-request balancer. Mid-storm, right after a lock's DELETE was
// answered (the remote cannot remove so fresh a lock yet, so a removal is
// left pending), the instance holding the background lease (the one that
// reaps for all) is SIGKILLed and the balancer drops it. The other two
// carry the storm to its end; only commands running at the kill may
// print restic's retries of the requests lost with it; nothing deleted
// comes back, on any instance; the lease passes to a survivor, which
// removes every lock from the remote; check --read-data passes.
func TestKillInstanceMidStorm(t *testing.T) {
	t.Parallel() // see TestSharedOverlay
	restic := e2e.DefaultRestic(t)
	// Locks uploaded before their 200: with write-behind a lock deleted
	// within seconds never reaches the remote, and this test needs
	// removals the remote refused (pending reaps) at the kill.
	s := startShared(t, "kill", redistest.Options{}, "--lock-upload-delay", "0")
	const repo = "kill"
	c := newStorm(t, restic, s.lb.Repo(repo))
	finished, w, done := s.startStorm(t, c, repo)

	// From plan 4's forget on, wait for a lock DELETE answered while the
	// remote still holds the lock (it hid so fresh a lock, so the delete
	// was absorbed and its removal left to the leader), then kill the
	// leader at once.
	deleteRE := regexp.MustCompile(`method=DELETE path=/` + repo + `/locks/([0-9a-f]{64}) status=200`)
	deleted := func() map[string]bool {
		out := map[string]bool{}
		for _, log := range s.cl.Logs() {
			for _, m := range deleteRE.FindAllStringSubmatch(log, -1) {
				out[m[1]] = true
			}
		}
		return out
	}
	stored := func(name string) bool { return s.emu.Stored(s.path + "/" + repo + "/locks/" + name) }
	for finished.Load() < 9 {
		time.Sleep(20 * time.Millisecond)
	}
	base := deleted()
	pending := ""
	for pending == "" && finished.Load() < 2*stormPlans {
		time.Sleep(10 * time.Millisecond)
		for name := range deleted() {
			if !base[name] && stored(name) {
				pending = name
			}
		}
	}
	if pending == "" {
		t.Fatal("no lock DELETE answered after plan 4 left its removal pending: the storm ended before the kill")
	}
	leaders := s.leaders()
	if len(leaders) != 1 {
		t.Fatalf("instances %v say they hold the background lease, want exactly one", leaders)
	}
	victim := leaders[0]
	vic := s.cl.Instances[victim]
	// Kill returns once the process is reaped: requests it cut may have
	// failed before that.
	killed := time.Now()
	if err := vic.Kill(); err != nil {
		t.Fatal(err)
	}
	s.lb.Drop(victim)
	dropped := time.Now()
	s.dead[victim] = true
	var left []string
	for name := range deleted() {
		if stored(name) {
			left = append(left, name[:10])
		}
	}
	if len(left) == 0 {
		t.Fatalf("lock %s was removed from the remote between its detection and the kill: no removal is left for the next leader to take over", pending[:10])
	}
	t.Logf("SIGKILL of the leader, instance %d, after %d commands, with removals of deleted locks %v pending on the remote", victim, finished.Load(), left)

	res := <-done
	if first, last := res.Commands[0].Start, res.Commands[len(res.Commands)-1].Start; !killed.After(first) || !killed.Before(last) {
		t.Fatalf("the kill at %s was not inside the storm (%s to %s)", killed.Format("15:04:05.000"), first.Format("15:04:05.000"), last.Format("15:04:05.000"))
	}
	after := 0
	for _, cr := range res.Commands {
		if cr.Start.After(dropped) {
			after++
		}
	}
	if after < 10 {
		t.Errorf("only %d commands started after the kill; the test wants the storm to go on well past it", after)
	}
	lost := 0
	s.checkStorm(t, c, res, w, repo, s.lb.Repo(repo), stormChecks{
		tol: retriesDuring(killed, dropped, lostRequestRE.MatchString, &lost),
		listingOK: func(l listing) bool {
			return l.server == vic.Spec.Name && !l.end.Before(killed)
		},
		readData: true,
		// The dead leader's lease lapses first (15 s), then the reaper's
		// backoff.
		reapWithin: 60 * time.Second,
	})
	if l := s.leaders(); len(l) != 1 {
		t.Errorf("after the storm, surviving instances %v hold the background lease, want exactly one", l)
	}
	for i, srv := range s.cl.Instances {
		if i == victim {
			continue
		}
		if code, _ := httpGet(s.cl.Base(i, repo) + "/locks/" + pending); code != http.StatusNotFound {
			t.Errorf("GET of lock %s, deleted just before the kill, answers %d through %s, want 404", pending[:10], code, srv.Spec.Name)
		}
	}
	t.Logf("storm with the leader (instance %d) killed mid-way: %d commands started after the kill, %d retries of lost requests, requests per instance %v (502s %v), wall %v",
		victim, after, lost, s.lb.Served(), s.lb.Failed(), res.Wall.Round(time.Millisecond))
}
