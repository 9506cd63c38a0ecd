package overlay

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The overlay's rules are pure: these tests need no remote.

var t0 = time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)

// name returns a 64-hex object name made of c.
func name(c byte) string { return strings.Repeat(string(c), 64) }

func locksRec(kind recKind, c byte, at time.Time) record {
	n := name(c)
	return record{kind: kind, key: keyIn("repo/locks", n), size: 10, at: at}
}

func TestJudge(t *testing.T) {
	before, after := t0.Add(-time.Second), t0.Add(time.Second)
	created := locksRec(created, 'a', t0)
	confirmed := created
	confirmed.confirmed = t0.Add(time.Millisecond)
	unknown := locksRec(tombstone, 'b', t0) // a delete of an object we did not know of
	removed := unknown
	removed.removedAt = t0.Add(2 * time.Second) // the remote accepted the removal
	reaping := unknown
	reaping.reap = true
	for _, tc := range []struct {
		name  string
		r     record
		shown bool
		size  int64
		start time.Time
		want  changeOp // 0: no change
	}{
		{"create shown by a later listing", created, true, 10, after, chConfirm},
		{"create shown with another size", created, true, 9, after, 0},
		{"create shown by a listing that started before it", created, true, 10, before, 0},
		{"create missing from a later listing", created, false, 0, after, 0},
		{"confirmed create, shown again", confirmed, true, 10, after, 0},
		{"confirmed create, missing from a stale listing", confirmed, false, 0, before, 0},
		{"unknown delete, shown by a later listing: reap it", unknown, true, 10, after, chFlip},
		{"unknown delete, shown by an older listing", unknown, true, 10, before, 0},
		{"unknown delete, absent from a later listing", unknown, false, 0, after, chConfirm},
		{"unknown delete, absent from an older listing", unknown, false, 0, before, 0},
		{"removed, absent from a listing after the removal", removed, false, 0, removed.removedAt.Add(time.Second), chConfirm},
		{"removed, absent from a listing before the removal", removed, false, 0, after, 0},
		{"removed, still shown (delete lag)", removed, true, 10, removed.removedAt.Add(time.Second), 0},
		{"pending reap, absent: proves nothing", reaping, false, 0, after, 0},
		{"pending reap, shown", reaping, true, 10, after, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := judge(&tc.r, tc.shown, tc.size, tc.start)
			if ok != (tc.want != 0) || c.op != tc.want {
				t.Fatalf("judge = %v (%v), want %v", c.op, ok, tc.want)
			}
			if ok && !c.rec.unchanged(tc.r) {
				t.Fatal("the change does not carry the record it was decided on")
			}
		})
	}
}

func TestMergeListing(t *testing.T) {
	a, b, c, d := name('a'), name('b'), name('c'), name('d')
	entry := func(n string, size int64) Entry { return Entry{Name: n, Size: size} }
	confirmedAt := func(r record, at time.Time) record { r.confirmed = at; return r }
	removedAt := func(r record, at time.Time) record { r.removedAt = at; return r }
	for _, tc := range []struct {
		name    string
		recs    []record
		listing listing
		want    []Entry
		masked  int
		added   int
		changes []changeOp
	}{{
		name:    "no records: the listing as it is",
		listing: listing{entries: []Entry{entry(a, 1), entry(b, 2)}, start: t0},
		want:    []Entry{entry(a, 1), entry(b, 2)},
	}, {
		name:    "a fresh create the remote does not list yet is added, in order",
		recs:    []record{locksRec(created, 'b', t0)},
		listing: listing{entries: []Entry{entry(a, 1), entry(c, 3)}, start: t0.Add(time.Second)},
		want:    []Entry{entry(a, 1), entry(b, 10), entry(c, 3)},
		added:   1,
	}, {
		name:    "a listing that shows the create confirms it",
		recs:    []record{locksRec(created, 'b', t0)},
		listing: listing{entries: []Entry{entry(b, 10)}, start: t0.Add(time.Second)},
		want:    []Entry{entry(b, 10)},
		changes: []changeOp{chConfirm},
	}, {
		name:    "a tombstone hides what the remote still lists",
		recs:    []record{locksRec(tombstone, 'a', t0)},
		listing: listing{entries: []Entry{entry(a, 1), entry(d, 4)}, start: t0.Add(-time.Second)},
		want:    []Entry{entry(d, 4)},
		masked:  1,
	}, {
		// A listing that started before a confirmation and returns after
		// it is still corrected: the confirmed records stay (retireGrace).
		name: "a listing older than a confirmation is still corrected",
		recs: []record{
			confirmedAt(locksRec(created, 'b', t0), t0.Add(2*time.Second)),
			confirmedAt(removedAt(locksRec(tombstone, 'c', t0), t0), t0.Add(2*time.Second)),
		},
		listing: listing{entries: []Entry{entry(a, 1), entry(c, 10)}, start: t0.Add(-time.Second)},
		want:    []Entry{entry(a, 1), entry(b, 10)},
		masked:  1,
		added:   1,
	}, {
		// The remote accepted the removal but still lists the object: the
		// listing's handle is dropped (masked) so that a read cannot
		// bring the object back from the handle cache.
		name:    "a handle listed during the delete lag is reported masked",
		recs:    []record{removedAt(locksRec(tombstone, 'c', t0), t0.Add(time.Second))},
		listing: listing{entries: []Entry{entry(c, 10)}, start: t0.Add(2 * time.Second)},
		want:    []Entry{},
		masked:  1,
	}, {
		name:    "a removal confirmed by a listing that leaves it out",
		recs:    []record{removedAt(locksRec(tombstone, 'c', t0), t0.Add(time.Second))},
		listing: listing{entries: []Entry{entry(a, 1)}, start: t0.Add(2 * time.Second)},
		want:    []Entry{entry(a, 1)},
		changes: []changeOp{chConfirm},
	}, {
		name:    "the size we wrote wins over the listed one",
		recs:    []record{locksRec(created, 'a', t0)},
		listing: listing{entries: []Entry{entry(a, 3)}, start: t0.Add(time.Second)},
		want:    []Entry{entry(a, 10)},
	}, {
		name:    "an unknown delete the remote shows after all turns into a reap",
		recs:    []record{locksRec(tombstone, 'd', t0)},
		listing: listing{entries: []Entry{entry(d, 4)}, start: t0.Add(time.Second)},
		want:    []Entry{},
		masked:  1,
		changes: []changeOp{chFlip},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := mergeListing(tc.listing, inNameOrder(tc.recs))
			if !slices.Equal(m.entries, tc.want) && len(m.entries)+len(tc.want) > 0 {
				t.Errorf("entries = %v, want %v", m.entries, tc.want)
			}
			if len(m.masked) != tc.masked || m.added != tc.added {
				t.Errorf("masked %d, added %d; want %d, %d", len(m.masked), m.added, tc.masked, tc.added)
			}
			var ops []changeOp
			for _, c := range m.changes {
				ops = append(ops, c.op)
			}
			if !slices.Equal(ops, tc.changes) {
				t.Errorf("changes = %v, want %v", ops, tc.changes)
			}
		})
	}
}

// inNameOrder is recs as viewDir gives them: copies, in name order.
func inNameOrder(recs []record) []*record {
	out := make([]*record, len(recs))
	for i := range recs {
		out[i] = &recs[i]
	}
	slices.SortFunc(out, func(a, b *record) int { return strings.Compare(a.key.name, b.key.name) })
	return out
}
