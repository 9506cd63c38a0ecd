package metrics

import "sync"

// MaxRepos is how many distinct repositories get their own line (a label
// value, a row of the status page) before the rest are counted together.
const MaxRepos = 100

// RepoCap is the rule that bounds what is kept per repository whatever
// paths clients choose: the first n distinct repositories it is asked
// about are admitted, every later one is refused, for good. Admitted names
// are kept, so asking again is cheap and stable. Safe for concurrent use.
type RepoCap struct {
	n    int
	mu   sync.Mutex
	seen map[string]struct{}
}

// NewRepoCap returns a cap that admits n repositories.
func NewRepoCap(n int) *RepoCap {
	return &RepoCap{n: n, seen: make(map[string]struct{})}
}

// Admit reports whether repo has, or now gets, its own line.
func (c *RepoCap) Admit(repo string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[repo]; ok {
		return true
	}
	if len(c.seen) >= c.n {
		return false
	}
	c.seen[repo] = struct{}{}
	return true
}
