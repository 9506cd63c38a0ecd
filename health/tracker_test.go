package health

import (
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/overlay"
)

// clock is a test's time, moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func name(c string) string           { return strings.Repeat(c, 64) }
func entries(names ...string) []overlay.Entry {
	out := make([]overlay.Entry, len(names))
	for i, n := range names {
		out[i] = overlay.Entry{Name: n, Size: 100}
	}
	return out
}

func only(t *testing.T, tr *Tracker) Repo {
	t.Helper()
	rs := tr.Repos()
	if len(rs) != 1 {
		t.Fatalf("want one repository, have %+v", rs)
	}
	return rs[0]
}

func TestNothingSeenIsAbsentNotZero(t *testing.T) {
	tr := New(nil, nil)
	tr.Listed("r", overlay.Snapshots, nil) // a missing repository lists empty
	if rs := tr.Repos(); len(rs) != 0 {
		t.Fatalf("an empty listing of an unknown repository made %+v", rs)
	}
	tr.Listed("r", overlay.Snapshots, entries(name("a")))
	r := only(t, tr)
	if !r.LastSnapshot.IsZero() || r.DataKnown || r.LocksKnown || !r.SnapshotsKnown || r.Snapshots != 1 {
		t.Fatalf("after a first listing: %+v (a listing tells no time, no data, no locks)", r)
	}
}

func TestSnapshotsWrittenAndListed(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr := New(c.now, nil)
	tr.Listed("r", overlay.Snapshots, entries(name("a")))
	c.add(time.Hour)
	tr.Stored("r", overlay.Snapshots, name("b"), 300)
	if r := only(t, tr); !r.LastSnapshot.Equal(c.t) || r.Snapshots != 2 {
		t.Fatalf("after a POST: %+v", r)
	}
	// Written past this server (another instance): seen at the listing.
	c.add(time.Hour)
	tr.Listed("r", overlay.Snapshots, entries(name("a"), name("b"), name("c")))
	if r := only(t, tr); !r.LastSnapshot.Equal(c.t) || r.Snapshots != 3 {
		t.Fatalf("after a listing with a new name: %+v", r)
	}
	at := c.t
	c.add(time.Hour)
	tr.Removed("r", overlay.Snapshots, name("a"))
	tr.Listed("r", overlay.Snapshots, entries(name("b"), name("c")))
	if r := only(t, tr); !r.LastSnapshot.Equal(at) || r.Snapshots != 2 {
		t.Fatalf("a forget moved the last snapshot or miscounted: %+v", r)
	}
}

func TestDataAsOfListing(t *testing.T) {
	tr := New(nil, nil)
	tr.Stored("r", overlay.Data, name("a"), 1000)
	if r := only(t, tr); r.DataKnown {
		t.Fatalf("data known before any listing: %+v", r)
	}
	tr.Listed("r", overlay.Data, entries(name("a"), name("b")))
	tr.Stored("r", overlay.Data, name("c"), 400)
	if r := only(t, tr); r.Packs != 3 || r.Bytes != 600 {
		t.Fatalf("want 3 packs, 600 bytes: %+v", r)
	}
	tr.Removed("r", overlay.Data, name("c"))
	if r := only(t, tr); r.Packs != 2 || r.Bytes != 400 {
		t.Fatalf("a delete takes the mean pack size: want 2 packs, 400 bytes: %+v", r)
	}
}

func TestLockGoesStaleUnlessReplaced(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr := New(c.now, nil)
	tr.Stored("r", overlay.Locks, name("a"), 200)
	tr.Listed("r", overlay.Locks, entries(name("a")))
	// A live restic replaces its lock every 5 minutes: never stale.
	live := name("a")
	for i, n := range []string{"b", "c", "d", "e", "f", "0", "1"} {
		c.add(5 * time.Minute)
		tr.Stored("r", overlay.Locks, name(n), 200)
		tr.Removed("r", overlay.Locks, live)
		live = name(n)
		if r := only(t, tr); r.StaleLocks != 0 || r.Locks != 1 {
			t.Fatalf("refresh %d: a refreshed lock reads %+v", i, r)
		}
	}
	// Its owner dies: nobody replaces it.
	died := c.t
	c.add(StaleAfter - time.Second)
	if r := only(t, tr); r.StaleLocks != 0 {
		t.Fatalf("stale before 30 minutes: %+v", r)
	}
	c.add(time.Second)
	r := only(t, tr)
	if r.StaleLocks != 1 || !r.OldestStaleLock.Equal(died) || r.OldestStaleLockAge(c.t) != StaleAfter {
		t.Fatalf("at 30 minutes: %+v", r)
	}
	// restic unlock deletes it.
	tr.Removed("r", overlay.Locks, live)
	if r := only(t, tr); r.StaleLocks != 0 || r.Locks != 0 || r.OldestStaleLockAge(c.t) != 0 {
		t.Fatalf("after unlock: %+v", r)
	}
}

func TestLockFromListingDatedWhenFirstSeen(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr := New(c.now, nil)
	tr.Listed("r", overlay.Locks, entries(name("a")))
	c.add(20 * time.Minute)
	tr.Listed("r", overlay.Locks, entries(name("a"), name("b")))
	c.add(10 * time.Minute)
	r := only(t, tr)
	if r.StaleLocks != 1 || r.Locks != 2 || r.OldestStaleLockAge(c.t) != 30*time.Minute {
		t.Fatalf("want one stale lock of 30m among two: %+v", r)
	}
	tr.Listed("r", overlay.Locks, nil) // removed past this server
	if r := only(t, tr); r.Locks != 0 || r.StaleLocks != 0 {
		t.Fatalf("a lock gone from the listing is still held: %+v", r)
	}
}

func TestCapBoundsRepositories(t *testing.T) {
	n := 0
	tr := New(nil, func(string) bool { n++; return n <= 2 })
	for _, r := range []string{"a", "b", "c", "d"} {
		tr.Stored(r, overlay.Snapshots, name("a"), 1)
	}
	if rs := tr.Repos(); len(rs) != 2 {
		t.Fatalf("want 2 repositories under the cap, have %d", len(rs))
	}
	var nilTracker *Tracker
	nilTracker.Stored("a", overlay.Locks, name("a"), 1)
	if nilTracker.Repos() != nil {
		t.Fatal("a nil tracker reported repositories")
	}
}
