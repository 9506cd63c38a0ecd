package pcloud

import (
	"bufio"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/e2e/consistency"
)

// Lines restic prints outside its JSON that do not mean the repository
// misbehaved:
//   - a retry after a 503 (steadyrest passes on a remote failure it could
//     not retry, e.g. an injected 5000 answer to pCloud's uploadfile,
//     which rclone's pcloud backend does not retry), and its recovery;
//   - "Load(<lock/X>) failed: <lock/X> does not exist": another process
//     listed lock X, and X's owner deleted it before the load. restic
//     prints this on any backend; checkLockGone makes sure X was deleted
//     by a client and not lost by steadyrest.
var (
	retry503RE  = regexp.MustCompile(`^(.+?) returned error, retrying after \S+: unexpected HTTP response \(503\): 503 Service Unavailable$`)
	recoveredRE = regexp.MustCompile(`^(.+?) operation successful after \d+ retries$`)
	lockGoneRE  = regexp.MustCompile(`^Load\(<lock/([0-9a-f]{10})>, 0, 0\) failed: <lock/[0-9a-f]{10}> does not exist$`)
)

// lineStats classifies a storm's non-JSON lines.
type lineStats struct {
	retries, recovered int
	lockGone           map[string]int // lock name prefix -> lines
	other              []string       // anything else: a failure
}

func classify(res consistency.StormResult) lineStats {
	st := lineStats{lockGone: map[string]int{}}
	for _, cr := range res.Commands {
		for _, l := range cr.BadLines {
			switch {
			case retry503RE.MatchString(l):
				st.retries++
			case recoveredRE.MatchString(l):
				st.recovered++
			case lockGoneRE.MatchString(l):
				st.lockGone[lockGoneRE.FindStringSubmatch(l)[1]]++
			default:
				st.other = append(st.other, fmt.Sprintf("%s %s: %s", consistency.PlanName(cr.Plan), cr.Command, l))
			}
		}
	}
	return st
}

// reqRE matches steadyrest's request log line for one object of repo.
var reqRE = regexp.MustCompile(`^time=(\S+) level=INFO msg=request method=(\w+) path=/([^/ ]+)/(\w+)/([0-9a-f]{64}) status=(\d+) .*duration=(\S+)`)

// request is one logged request on an object: its interval and answer.
type request struct {
	method     string
	status     int
	start, end time.Time
}

// objectRequests parses steadyrest's request log into the requests on each
// object ("type/name") of repo.
func objectRequests(log, repo string) (map[string][]request, error) {
	out := map[string][]request{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := reqRE.FindStringSubmatch(sc.Text())
		if m == nil || m[3] != repo {
			continue
		}
		end, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			return nil, fmt.Errorf("request log time %q: %w", m[1], err)
		}
		d, err := time.ParseDuration(m[7])
		if err != nil {
			return nil, fmt.Errorf("request log duration %q: %w", m[7], err)
		}
		var status int
		fmt.Sscan(m[6], &status)
		key := m[4] + "/" + m[5]
		// The log's clock has millisecond resolution: widen each interval
		// by a millisecond so that a rounding never makes two concurrent
		// requests look ordered.
		out[key] = append(out[key], request{method: m[2], status: status,
			start: end.Add(-d).Add(-time.Millisecond), end: end.Add(time.Millisecond)})
	}
	return out, sc.Err()
}

// readYourWritesViolations checks the contract on every object from the
// request log: a GET or HEAD that started after a POST of the object was
// answered 200, and ended before any later DELETE of it started, must not
// answer 404. It returns one line per violation.
func readYourWritesViolations(reqs map[string][]request) []string {
	var bad []string
	for key, rs := range reqs {
		for _, w := range rs {
			if w.method != "POST" || w.status != 200 {
				continue
			}
			// The first DELETE that started after the write finished.
			var del time.Time
			for _, d := range rs {
				if d.method == "DELETE" && d.start.After(w.end) && (del.IsZero() || d.start.Before(del)) {
					del = d.start
				}
			}
			for _, r := range rs {
				if (r.method != "GET" && r.method != "HEAD") || r.status != 404 {
					continue
				}
				if r.start.After(w.end) && (del.IsZero() || r.end.Before(del)) {
					bad = append(bad, fmt.Sprintf("%s: %s answered 404 at %s, after the POST answered 200 at %s and before any DELETE",
						key, r.method, r.end.Format("15:04:05.000"), w.end.Format("15:04:05.000")))
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// checkLockGone returns, for each lock prefix restic said did not exist,
// an error unless a client DELETE of that lock was answered 200.
func checkLockGone(reqs map[string][]request, prefixes map[string]int) []string {
	var bad []string
	for p := range prefixes {
		deleted := false
		for key, rs := range reqs {
			if !strings.HasPrefix(key, "locks/"+p) {
				continue
			}
			for _, r := range rs {
				if r.method == "DELETE" && r.status == 200 {
					deleted = true
				}
			}
		}
		if !deleted {
			bad = append(bad, fmt.Sprintf("lock %s: restic could not load it, and no client deleted it", p))
		}
	}
	sort.Strings(bad)
	return bad
}
