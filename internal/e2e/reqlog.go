package e2e

import (
	"bufio"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// reqRE matches steadyrest's request log line (slog text) for one object
// of a repository: time (when it was answered), method, repository,
// type, name, status and duration.
var reqRE = regexp.MustCompile(`^time=(\S+) level=INFO msg=request method=(\w+) path=/([^ ]+)/(\w+)/([0-9a-f]{64}) status=(\d+) .*duration=(\S+)`)

// Request is one request on an object from steadyrest's request log: its
// interval and answer.
type Request struct {
	Method     string
	Status     int
	Start, End time.Time
	// Server names the instance that logged it, when a test merges the
	// logs of several (MergeRequests).
	Server string
}

// ObjectRequests parses steadyrest's request log into the requests on each
// object ("type/name") of repository repo (its path without slashes
// around it, e.g. "storm" or "a/b").
func ObjectRequests(log, repo string) (map[string][]Request, error) {
	out := map[string][]Request{}
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
		status, err := strconv.Atoi(m[6])
		if err != nil {
			return nil, fmt.Errorf("request log status %q: %w", m[6], err)
		}
		key := m[4] + "/" + m[5]
		// The log's clock has millisecond resolution: widen each interval
		// by a millisecond so that a rounding never makes two concurrent
		// requests look ordered.
		out[key] = append(out[key], Request{Method: m[2], Status: status,
			Start: end.Add(-d).Add(-time.Millisecond), End: end.Add(time.Millisecond)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scan request log: %w", err)
	}
	return out, nil
}

// MergeRequests parses the request logs of several instances in front of
// one repository (logs by instance name) into one map, each request
// labelled with its instance. The instances share the machine's clock.
func MergeRequests(logs map[string]string, repo string) (map[string][]Request, error) {
	out := map[string][]Request{}
	for name, log := range logs {
		reqs, err := ObjectRequests(log, repo)
		if err != nil {
			return nil, fmt.Errorf("log of %s: %w", name, err)
		}
		for key, rs := range reqs {
			for _, r := range rs {
				r.Server = name
				out[key] = append(out[key], r)
			}
		}
	}
	return out, nil
}

func (r Request) String() string {
	s := fmt.Sprintf("%s %d at %s", r.Method, r.Status, r.End.Format("15:04:05.000"))
	if r.Server != "" {
		s += " through " + r.Server
	}
	return s
}

// ReadYourWritesViolations checks the contract on every object: a GET or
// HEAD that started after a POST of the object was answered 200, and ended
// before any later DELETE of it started, must not answer 404. It returns
// one line per violation.
func ReadYourWritesViolations(reqs map[string][]Request) []string {
	var bad []string
	for key, rs := range reqs {
		for _, w := range rs {
			if w.Method != "POST" || w.Status != 200 {
				continue
			}
			// The first DELETE that started after the write finished.
			var del time.Time
			for _, d := range rs {
				if d.Method == "DELETE" && d.Start.After(w.End) && (del.IsZero() || d.Start.Before(del)) {
					del = d.Start
				}
			}
			for _, r := range rs {
				if (r.Method != "GET" && r.Method != "HEAD") || r.Status != 404 {
					continue
				}
				if r.Start.After(w.End) && (del.IsZero() || r.End.Before(del)) {
					bad = append(bad, fmt.Sprintf("%s: %s, after the write (%s) and before any DELETE", key, r, w))
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// DeletesStickViolations checks the other half: a GET or HEAD that
// started after a DELETE of the object was answered 200 must not answer
// 200, unless a POST of it started before the read ended (it may have
// been written again). It returns one line per violation.
func DeletesStickViolations(reqs map[string][]Request) []string {
	var bad []string
	for key, rs := range reqs {
		for _, d := range rs {
			if d.Method != "DELETE" || d.Status != 200 {
				continue
			}
			for _, r := range rs {
				if (r.Method != "GET" && r.Method != "HEAD") || r.Status != 200 || !r.Start.After(d.End) {
					continue
				}
				rewritten := false
				for _, w := range rs {
					if w.Method == "POST" && w.Start.After(d.Start) && w.Start.Before(r.End) {
						rewritten = true
					}
				}
				if !rewritten {
					bad = append(bad, fmt.Sprintf("%s: %s, after the DELETE (%s) and no write since", key, r, d))
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}
