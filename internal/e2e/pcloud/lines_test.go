package pcloud

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
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

// checkLockGone returns, for each lock prefix restic said did not exist,
// an error unless a client DELETE of that lock was answered 200.
func checkLockGone(reqs map[string][]e2e.Request, prefixes map[string]int) []string {
	var bad []string
	for p := range prefixes {
		deleted := false
		for key, rs := range reqs {
			if !strings.HasPrefix(key, "locks/"+p) {
				continue
			}
			for _, r := range rs {
				if r.Method == "DELETE" && r.Status == 200 {
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
