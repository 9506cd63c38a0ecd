package cache

import (
	"slices"
	"strings"
	"time"
)

// merge applies the overlay to a remote listing of dir, and retires the
// records the listing confirms. It returns a new, sorted slice.
func (s *Store) merge(dir string, l listing) ([]Entry, int) {
	var retired []retiredRec    // journal entries to drop
	var flipped []string        // tombstones that turned into reaps
	var lags []time.Duration    // create lags confirmed
	var delLags []time.Duration // delete lags confirmed
	var masked, added, confirmedN int

	s.ov.mu.Lock()
	names := s.ov.byDir[dir]
	// l.entries is sorted: keep its order and merge in the few additions,
	// instead of sorting the whole result again.
	kept := make([]Entry, 0, len(l.entries)+len(names))
	var adds []Entry
	// Records the listing shows are stamped with this merge's generation:
	// cheaper than a set of seen names when a folder holds 100,000.
	s.ov.gen++
	gen := s.ov.gen
	for _, e := range l.entries {
		r := names[e.Name]
		if r == nil {
			kept = append(kept, e)
			continue
		}
		r.seen = gen
		switch r.kind {
		case tombstone:
			masked++
			// The listing saw what we deleted (delete lag): its handle
			// must not outlive the tombstone and bring the object back.
			s.handles.remove(r.key)
			if r.pending() && !r.reap && r.removedAt.IsZero() && l.start.After(r.at) {
				// A delete of an object we did not know of, and the remote
				// shows it after all: remove it for real.
				r.reap = true
				flipped = append(flipped, r.key)
			}
		case created:
			kept = append(kept, Entry{Name: e.Name, Size: r.size})
			if r.pending() && e.Size == r.size && l.start.After(r.at) {
				lags = append(lags, time.Since(r.at))
				s.confirmLocked(r, &retired)
				confirmedN++
			}
		}
	}
	for name, r := range names {
		if r.seen == gen {
			continue
		}
		switch {
		case r.kind == created:
			adds = append(adds, Entry{Name: name, Size: r.size})
			added++
		case !r.pending():
			// Confirmed already; kept only to correct older listings.
		case r.reap:
			// Absence proves nothing: a fresh upload the remote refused to
			// remove may still be hidden by its create lag.
		case !r.removedAt.IsZero() && l.start.After(r.removedAt):
			delLags = append(delLags, time.Since(r.removedAt))
			s.confirmLocked(r, &retired)
			confirmedN++
		case r.removedAt.IsZero() && l.start.After(r.at):
			s.confirmLocked(r, &retired)
			confirmedN++
		}
	}
	s.ov.mu.Unlock()

	out := mergeSorted(kept, adds)
	s.event(EventMaskedStale, masked)
	s.event(EventAddedMissing, added)
	s.event(EventRetiredConfirmed, confirmedN)
	for _, d := range lags {
		s.obs.Visible(VisibleCreate, d)
	}
	for _, d := range delLags {
		s.obs.Visible(VisibleDelete, d)
	}
	s.journalDrop(retired)
	for _, key := range flipped {
		s.journalTombstone(key)
	}
	return out, confirmedN
}

// mergeSorted merges adds into the sorted slice kept, sorting adds first.
// It may reuse kept's array.
func mergeSorted(kept, adds []Entry) []Entry {
	if len(adds) == 0 {
		return kept
	}
	byName := func(a, b Entry) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(adds, byName)
	out := make([]Entry, 0, len(kept)+len(adds))
	i, j := 0, 0
	for i < len(kept) && j < len(adds) {
		if kept[i].Name < adds[j].Name {
			out = append(out, kept[i])
			i++
		} else {
			out = append(out, adds[j])
			j++
		}
	}
	out = append(out, kept[i:]...)
	return append(out, adds[j:]...)
}

// retiredRec names a retired record's journal entry: the key, and the time
// that identifies this record (a newer record under the same key stays).
type retiredRec struct {
	key string
	at  time.Time
}

// confirmLocked marks r confirmed by the remote (caller holds s.ov.mu) and
// notes its journal entry, which is no longer needed: a restart forgets a
// confirmed record safely. The record itself stays for retireGrace.
func (s *Store) confirmLocked(r *record, retired *[]retiredRec) {
	r.confirmed.Store(time.Now().UnixNano())
	*retired = append(*retired, retiredRec{key: r.key, at: r.at})
}
