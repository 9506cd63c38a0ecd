package shared

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/redistest"
)

// status503RE finds the requests an instance answered 503, with the time.
var status503RE = regexp.MustCompile(`(?m)^time=(\S+) level=INFO msg=request method=\w+ path=(\S+) status=503 `)

// TestRedisDownMidStorm: three instances with one overlay in Redis
// (append-only, fsync always), plans spread over them; Redis is stopped
// mid-storm and started again. While it is away every instance's /readyz
// and a listing answer 503 rather than a per-instance view; restic
// retries the 503s (only commands that ran during the outage print
// retries, and only of 503s); after Redis returns the instances recover
// by themselves and the storm completes with every snapshot, no lock left
// or come back, and a clean check.
func TestRedisDownMidStorm(t *testing.T) {
	t.Parallel() // see TestSharedOverlay
	restic := e2e.DefaultRestic(t)
	s := startShared(t, "redisdown", redistest.Options{AppendOnly: true})
	const repo = "r"
	c := newStorm(t, restic, s.cl.Repo(0, repo))
	c.PlanRepo = func(i int) string { return s.cl.Repo((i+1)%3, repo) }
	finished, w, done := s.startStorm(t, c, repo)

	// Stop Redis while plan 4's forget starts up.
	for finished.Load() < 9 {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	// Taken before Stop returns: requests fail from its first moment.
	down := time.Now()
	s.redis.Stop()
	t.Logf("Redis stopped after %d commands", finished.Load())
	for i, srv := range s.cl.Instances {
		// /readyz keeps a result for a few seconds: allow for that.
		waitStatus(t, "http://"+srv.Addr+"/readyz", http.StatusServiceUnavailable, 15*time.Second)
		_, why := httpGet("http://" + srv.Addr + "/readyz")
		code, body := httpGet(s.cl.Base(i, repo) + "/locks/")
		if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "shared overlay (Redis) is out of reach") {
			t.Errorf("listing locks through %s while Redis is down: %d (%.200s), want 503 with the reason", srv.Spec.Name, code, body)
		}
		t.Logf("Redis down: %s /readyz says %q, a listing answers %d %q", srv.Spec.Name, why, code, body)
	}
	// An outage restic's retries must ride out, longer than one backoff.
	time.Sleep(time.Until(down.Add(6 * time.Second)))
	s.redis.Restart()
	up := time.Now()
	ready := up
	for _, srv := range s.cl.Instances {
		if at := waitStatus(t, "http://"+srv.Addr+"/readyz", http.StatusOK, 30*time.Second); at.After(ready) {
			ready = at
		}
	}
	t.Logf("Redis down for %v; every instance ready again %v after it returned (after %d commands)",
		up.Sub(down).Round(time.Millisecond), ready.Sub(up).Round(time.Millisecond), finished.Load())

	res := <-done
	retried := 0
	s.checkStorm(t, c, res, w, repo, s.cl.Repo(1, repo), stormChecks{
		tol: retriesDuring(down, ready, func(err string) bool { return strings.Contains(err, "503") }, &retried),
		listingOK: func(l listing) bool {
			return l.status == http.StatusServiceUnavailable && !l.end.Before(down) && !l.start.After(ready)
		},
	})
	if retried == 0 {
		t.Errorf("no restic command retried a 503 while Redis was down: the outage did not reach the storm")
	}
	// 503s only while Redis was away: not before, and not after every
	// instance said it was ready again. (That some came is shown by
	// restic's retries above; these counts include the test's listings.)
	in := 0
	for name, log := range s.cl.Logs() {
		for _, m := range status503RE.FindAllStringSubmatch(log, -1) {
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				t.Fatalf("request log time %q: %v", m[1], err)
			}
			if at.Before(down) || at.After(ready.Add(time.Second)) {
				t.Errorf("%s answered %s with 503 at %s, outside Redis's outage (%s to %s)", name, m[2],
					at.Format("15:04:05.000"), down.Format("15:04:05.000"), ready.Format("15:04:05.000"))
				continue
			}
			in++
		}
	}
	// With the append-only file (fsync always) Redis came back with its
	// records: no instance may take the restart for a loss of them.
	for name, log := range s.cl.Logs() {
		if strings.Contains(log, "Redis lost its records") {
			t.Errorf("%s took Redis's restart with its append-only file for a loss of the shared records", name)
		}
		if !strings.Contains(log, "shared overlay: Redis answers again") {
			t.Errorf("%s did not log that Redis answers again after the outage", name)
		}
	}
	t.Logf("Redis outage mid-storm: %d requests answered 503, %d restic retry lines, storm wall %v", in, retried, res.Wall.Round(time.Millisecond))
}
