package overlay

import "time"

// countClass is what a record counts as in counts: the rule for both
// record stores (the shared one keeps each class in its own index).
type countClass uint8

const (
	countNone      countClass = iota // confirmed: not counted
	countCreated                     // pending created, deferred locks included
	countTombstone                   // pending tombstone the remote removed
	countReap                        // pending reap
)

// classOf is the class r counts in.
func classOf(r record) countClass {
	switch {
	case !r.pending():
		return countNone
	case r.kind == created:
		return countCreated
	case r.reap:
		return countReap
	}
	return countTombstone
}

// add counts n records of class cl, the oldest of them acknowledged at
// oldest.
func (c *counts) add(cl countClass, n int, oldest time.Time) {
	switch cl {
	case countCreated:
		c.created += n
	case countTombstone:
		c.tombstones += n
	case countReap:
		c.reaps += n
		if n > 0 && !oldest.IsZero() && (c.oldestReap.IsZero() || oldest.Before(c.oldestReap)) {
			c.oldestReap = oldest
		}
	}
}
