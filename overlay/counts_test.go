package overlay

import (
	"testing"
	"time"
)

func TestCountClasses(t *testing.T) {
	now := time.Now()
	lock := locksRec(created, 'a', now)
	deferred := lock
	deferred.deferred = true
	confirmed := lock
	confirmed.confirmed = now
	confirmedDeferred := deferred
	confirmedDeferred.confirmed = now
	reap := locksRec(tombstone, 'b', now)
	reap.reap = true
	confirmedReap := reap
	confirmedReap.confirmed = now
	gone := locksRec(tombstone, 'c', now)
	for _, c := range []struct {
		name  string
		r     record
		class countClass
		set   stateSet
	}{
		{"created", lock, countCreated, setCreated},
		{"deferred lock", deferred, countCreated, setDeferred},
		{"confirmed", confirmed, countNone, setConfirmed},
		{"confirmed deferred lock", confirmedDeferred, countNone, setDeferred},
		{"pending reap", reap, countReap, setReaps},
		{"confirmed reap", confirmedReap, countNone, setConfirmed},
		{"tombstone", gone, countTombstone, setTombstones},
	} {
		if got := classOf(c.r); got != c.class {
			t.Errorf("%s: class %d, want %d", c.name, got, c.class)
		}
		if got := setOf(c.r); got != c.set {
			t.Errorf("%s: state set %d, want %d", c.name, got, c.set)
		}
		// A pending record's set counts as its class.
		if c.r.pending() && setOf(c.r).class() != c.class {
			t.Errorf("%s: its set counts as %d, it as %d", c.name, setOf(c.r).class(), c.class)
		}
	}
}

func TestCountsAdd(t *testing.T) {
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	var c counts
	c.add(countCreated, 2, t2)
	c.add(countTombstone, 1, t2)
	c.add(countReap, 1, t2)
	c.add(countReap, 3, t1)
	c.add(countReap, 0, time.Unix(1, 0)) // an empty set has no oldest
	c.add(countNone, 5, t1)
	want := counts{created: 2, tombstones: 1, reaps: 4, oldestReap: t1}
	if c != want {
		t.Errorf("counts = %+v, want %+v", c, want)
	}
}
