package shared

import (
	"context"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/e2e"
	"github.com/steadyrest/steadyrest/e2e/consistency"
	"github.com/steadyrest/steadyrest/redistest"
)

// lostRequestRE is the error restic retries when an instance died under
// one of its requests: the balancer's 502, or the connection cut
// mid-answer.
var lostRequestRE = regexp.MustCompile(`502|Bad Gateway|EOF|connection reset`)

// TestKillInstanceMidStorm: three instances with one overlay behind the
// per-request balancer; SIGKILL one of them mid-storm, right after it
// answered a lock's DELETE (the remote refuses deleting so fresh a lock,
// so the instance leaves a removal to finish), and the balancer drops it.
// The other two carry the storm to its end; only commands running at the
// kill may print restic's retries of the lost requests; nothing deleted
// comes back, on any instance; the remote ends with no lock (the dead
// instance's removals pass to the others); check --read-data passes.
func TestKillInstanceMidStorm(t *testing.T) {
	restic := e2e.DefaultRestic(t)
	s := startShared(t, "kill", redistest.Options{})
	const repo, victim = "kill", 1
	c := newStorm(t, restic, s.lb.Repo(repo))
	var finished atomic.Int64
	c.Logf = func(format string, args ...any) {
		t.Logf(format, args...)
		finished.Add(1)
	}
	if err := c.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := s.watch(repo)
	done := runStormAsync(t, c)

	// From plan 4's forget on, kill the victim right after it answers a
	// lock DELETE; after plan 9 without one, kill it anyway.
	deleteRE := regexp.MustCompile(`method=DELETE path=/` + repo + `/locks/([0-9a-f]{64}) status=200`)
	vic := s.cl.Instances[victim]
	for finished.Load() < 9 {
		time.Sleep(20 * time.Millisecond)
	}
	base := len(deleteRE.FindAllString(vic.Log(), -1))
	for len(deleteRE.FindAllString(vic.Log(), -1)) == base && finished.Load() < 20 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := vic.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	s.lb.Drop(victim)
	dropped := time.Now()
	s.dead[victim] = true
	var lastDeleted string
	if m := deleteRE.FindAllStringSubmatch(vic.Log(), -1); len(m) > base {
		lastDeleted = m[len(m)-1][1]
		pending := s.emu.Stored(s.path + "/" + repo + "/locks/" + lastDeleted)
		t.Logf("SIGKILL of instance %d after %d commands, right after it answered DELETE of lock %s (still stored on the remote: %v)",
			victim, finished.Load(), lastDeleted[:10], pending)
	} else {
		t.Logf("SIGKILL of instance %d after %d commands (it answered no lock DELETE since plan 4)", victim, finished.Load())
	}

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
		tol: func(cr consistency.CommandResult, line string) bool {
			if !overlaps(cr, killed, dropped) {
				return false
			}
			if m := retryRE.FindStringSubmatch(line); m != nil && lostRequestRE.MatchString(m[1]) {
				lost++
				return true
			}
			return recoveredRE.MatchString(line)
		},
		listingOK: func(l listing) bool {
			return l.server == vic.Spec.Name && !l.end.Before(killed)
		},
		readData: true,
	})
	if lastDeleted != "" {
		// The lock the victim deleted last must not be back on the others.
		for i, srv := range s.cl.Instances {
			if i == victim {
				continue
			}
			if code, _ := httpGet(s.cl.Base(i, repo) + "/locks/" + lastDeleted); code != 404 {
				t.Errorf("GET of lock %s, deleted through the killed instance, answers %d through %s, want 404", lastDeleted[:10], code, srv.Spec.Name)
			}
		}
	}
	t.Logf("storm with instance %d killed mid-way: %d commands started after the kill, %d retries of lost requests, requests per instance %v (502s %v), wall %v",
		victim, after, lost, s.lb.Served(), s.lb.Failed(), res.Wall.Round(time.Millisecond))
}
