package overlay

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// The rules of the overlay: what a remote observation means for a record.
// They are pure functions of the observation and the records, so that
// every recordStore shares them, and they are tested without a remote.

// judge applies the confirmation rule to one record and one observation of
// the remote that started at start: shown tells whether the remote showed
// the object (a listing entry, or a lookup that found it), size its size.
// Listings and lookups both confirm through it.
func judge(r *record, shown bool, size int64, start time.Time) (change, bool) {
	if !r.pending() {
		return change{}, false // confirmed already; kept only to correct older listings
	}
	var op changeOp
	switch {
	case r.kind == created:
		if shown && size == r.size && start.After(r.at) {
			op = chConfirm
		}
	case r.reap:
		// Absence proves nothing: a fresh upload the remote refused to
		// remove may still be hidden by its create lag. The reaper decides.
	case shown:
		if r.removedAt.IsZero() && start.After(r.at) {
			// A delete of an object we did not know of, and the remote
			// shows it after all: remove it for real.
			op = chFlip
		}
	case !r.removedAt.IsZero():
		if start.After(r.removedAt) {
			op = chConfirm
		}
	case start.After(r.at):
		op = chConfirm // deleted before we knew of it, and still absent
	}
	if op == 0 {
		return change{}, false
	}
	return change{op: op, rec: *r}, true // at: set when applied
}

// merged is a listing with the overlay applied, and what it tells.
type merged struct {
	entries []Entry  // sorted by name
	changes []change // transitions the listing proves (judge)
	masked  []string // keys of listed objects a tombstone hides: their cached handles must go
	added   int      // recent creates the listing lacked
	// observed: the pending records the listing showed or missed, for
	// the lag measurement (lag.go).
	observed []lagObservation
}

// note adds r, as the listing saw it, to the observations if its
// visibility is in question.
func (m *merged) note(r *record, shown bool, size int64) {
	if _, _, ok := lagRef(r); ok {
		m.observed = append(m.observed, lagObservation{rec: r, shown: shown, size: size})
	}
}

// mergeListing applies the records of a folder (in name order, as
// viewDir gives them) to a remote listing of it (sorted by name):
// listing = remote + recent creates - tombstones, with the sizes we
// wrote. Both are walked side by side, once: a folder may hold 100,000
// records. It returns a new slice.
func mergeListing(l listing, recs []*record) merged {
	// The names' prefixes, read in one pass each: the walk then compares
	// numbers in two arrays instead of following a pointer to a record and
	// another to its name at every step (100,000 cache misses).
	rp, ep := make([]uint64, len(recs)), make([]uint64, len(l.entries))
	creates := 0 // the most entries the records can add
	for i, r := range recs {
		rp[i] = namePrefix(r.key.name)
		if r.kind == created {
			creates++
		}
	}
	for i := range l.entries {
		ep[i] = namePrefix(l.entries[i].Name)
	}
	m := merged{observed: make([]lagObservation, 0, len(recs))} // each record noted once at most
	out := make([]Entry, 0, len(l.entries)+creates)
	// missed is a record the listing does not show.
	missed := func(r *record) {
		if r.kind == created {
			out = append(out, Entry{Name: r.key.name, Size: r.size})
			m.added++
		}
		m.note(r, false, 0)
		if c, ok := judge(r, false, 0, l.start); ok {
			m.changes = append(m.changes, c)
		}
	}
	order := func(i, j int) int {
		if rp[i] != ep[j] {
			return cmp.Compare(rp[i], ep[j])
		}
		return strings.Compare(recs[i].key.name, l.entries[j].Name)
	}
	i := 0
	for j, e := range l.entries {
		c := -1
		for i < len(recs) {
			if c = order(i, j); c >= 0 {
				break
			}
			missed(recs[i])
			i++
		}
		if c != 0 {
			out = append(out, e)
			continue
		}
		r := recs[i]
		i++
		if r.kind == tombstone {
			m.masked = append(m.masked, r.key.path)
		} else {
			out = append(out, Entry{Name: e.Name, Size: r.size})
		}
		m.note(r, true, e.Size)
		if c, ok := judge(r, true, e.Size, l.start); ok {
			m.changes = append(m.changes, c)
		}
	}
	for _, r := range recs[i:] {
		missed(r)
	}
	m.entries = out
	return m
}

// namePrefix is name's first 8 bytes as a big-endian number (zeros past
// a shorter name's end): where two differ, they order the names as
// strings.Compare does.
func namePrefix(name string) uint64 {
	var b [8]byte
	copy(b[:], name)
	return binary.BigEndian.Uint64(b[:])
}

// merge applies the overlay to a remote listing of dir and the transitions
// the listing proves. It returns the entries and how many records the
// listing confirmed.
func (s *Store) merge(ctx context.Context, dir string, l listing) ([]Entry, int, error) {
	recs, err := s.ov.viewDir(ctx, dir)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: overlay: %w", dir, err)
	}
	m := mergeListing(l, recs)
	// The listing saw what we deleted (delete lag): its handles must not
	// outlive the tombstones and bring the objects back.
	for _, key := range m.masked {
		s.handles.remove(key)
	}
	s.lag.observeAll(m.observed, l.start)
	s.event(EventMaskedStale, len(m.masked))
	s.event(EventAddedMissing, m.added)
	confirmed, err := s.apply(ctx, m.changes)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: overlay: %w", dir, err)
	}
	return m.entries, confirmed, nil
}

// apply makes transitions through the recordStore and reports those it
// made (events, visibility lags, logs). It returns how many records were
// confirmed.
func (s *Store) apply(ctx context.Context, cs []change) (int, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	now := time.Now()
	for i := range cs {
		if cs[i].at.IsZero() {
			cs[i].at = now // a rule's decision takes effect now
		}
	}
	applied, err := s.ov.apply(ctx, cs)
	confirmed := 0
	for _, c := range applied {
		r := c.rec
		switch c.op {
		case chConfirm:
			confirmed++
			s.objectEvent(EventRetiredConfirmed, r.key, nil, c.at)
			pre := r // as it was until this confirmation
			pre.confirmed = time.Time{}
			if lag, ok := s.lag.settle(&pre, c.at, s.f.Features().IsLocal); ok && pre.kind == created {
				s.obs.Visible(VisibleCreate, lag)
			} else if ok {
				s.obs.Visible(VisibleDelete, lag)
			}
		case chReaped:
			s.objectEvent(EventReapDone, r.key, nil, c.at)
			s.log.Info("reaper removed a deleted object", "object", r.key.path, "after", c.at.Sub(r.at).Round(time.Millisecond))
		case chRefused:
			s.event(EventReapRefused, 1)
			s.log.Error("refused what a record asked of the background: the policy forbids it (under --append-only only locks are removed; only locks are written behind); the record is dropped and the object stays on the remote as it is (a forged journal or Redis record, or one left by a run under another policy)",
				"object", r.key.path, "state", r.state())
		case chExpire:
			s.objectEvent(EventRetiredTimeout, r.key, nil, c.at)
			s.lag.forget(&r)
			// The one place the guarantee can lapse, so each is logged.
			s.log.Warn("overlay record retired at the settle window without the remote confirming it",
				"object", r.key.path, "state", r.state(), "age", c.at.Sub(r.at).Round(time.Second))
		}
	}
	return confirmed, err
}
