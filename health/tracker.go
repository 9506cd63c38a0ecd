// Package health keeps each repository's health as the server sees it in
// the requests that pass through: when the last snapshot was written, how
// many snapshots there are, the bytes and packs stored, and the locks held
// with their age. It makes no remote call: every figure is as of the last
// listing of the folder a restic command asked for, plus the writes and
// deletes that went through since.
package health

import (
	"sync"
	"time"

	"github.com/steadyrest/steadyrest/overlay"
)

// StaleAfter is when restic itself calls a lock stale: a live restic
// replaces its lock file every 5 minutes, so a lock file this old belongs
// to a process that died (restic's lock.go: staleTimeout).
const StaleAfter = 30 * time.Minute

// Tracker holds the health of every admitted repository. Safe for
// concurrent use; a nil *Tracker ignores every call.
type Tracker struct {
	now   func() time.Time
	admit func(repo string) bool

	mu    sync.Mutex
	repos map[string]*repoHealth
}

// New returns a tracker reading time from now (time.Now in production, a
// test's clock in tests) and keeping a repository only if admit does
// (metrics.RepoCap's rule, so that clients cannot grow it without bound).
func New(now func() time.Time, admit func(repo string) bool) *Tracker {
	if now == nil {
		now = time.Now
	}
	if admit == nil {
		admit = func(string) bool { return true }
	}
	return &Tracker{now: now, admit: admit, repos: map[string]*repoHealth{}}
}

// repoHealth is one repository's state. A figure is known only after the
// listing it comes from: before, it is absent rather than a wrong zero.
type repoHealth struct {
	lastSnapshot time.Time           // zero: no snapshot seen written
	snapshots    map[string]struct{} // nil until snapshots/ was listed

	dataKnown bool // data/ was listed: packs and bytes mean something
	packs     int
	bytes     int64

	locksKnown bool                 // locks/ was listed
	locks      map[string]time.Time // lock file -> when first seen
}

// entry returns repo's state, creating it if the cap admits it; nil if not.
// Callers hold t.mu.
func (t *Tracker) entry(repo string, create bool) *repoHealth {
	if r := t.repos[repo]; r != nil {
		return r
	}
	if !create || !t.admit(repo) {
		return nil
	}
	r := &repoHealth{locks: map[string]time.Time{}}
	t.repos[repo] = r
	return r
}

// Listed records a successful listing of typ in repo. An empty listing of
// a repository not seen before is ignored: the listing of a missing
// repository is empty too, and must not take a place under the cap.
func (t *Tracker) Listed(repo string, typ overlay.Type, entries []overlay.Entry) {
	if t == nil || (typ != overlay.Snapshots && typ != overlay.Data && typ != overlay.Locks) {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.entry(repo, len(entries) > 0)
	if r == nil {
		return
	}
	switch typ {
	case overlay.Snapshots:
		r.listedSnapshots(entries, now)
	case overlay.Data:
		r.dataKnown, r.packs, r.bytes = true, len(entries), 0
		for _, e := range entries {
			r.bytes += max(e.Size, 0)
		}
	case overlay.Locks:
		r.listedLocks(entries, now)
	}
}

// listedSnapshots replaces the set of snapshots. A name the previous
// listing did not show was written since, by another client of the
// shared overlay or past this server: it counts as written now. The first
// listing after start is only a baseline: a listing tells no times.
func (r *repoHealth) listedSnapshots(entries []overlay.Entry, now time.Time) {
	first := r.snapshots == nil
	next := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		next[e.Name] = struct{}{}
		if _, seen := r.snapshots[e.Name]; !seen && !first {
			r.lastSnapshot = now
		}
	}
	r.snapshots = next
}

// listedLocks replaces the set of locks, keeping when each was first
// seen. A lock not seen before is dated now: the listing tells no
// modification time (asking for it would cost a call per lock on some
// remotes), so a lock is called stale 30 minutes after this server first
// saw it at the latest.
func (r *repoHealth) listedLocks(entries []overlay.Entry, now time.Time) {
	next := make(map[string]time.Time, len(entries))
	for _, e := range entries {
		since, ok := r.locks[e.Name]
		if !ok {
			since = now
		}
		next[e.Name] = since
	}
	r.locks, r.locksKnown = next, true
}

// Stored records a successful write of typ/name in repo, of size bytes.
func (t *Tracker) Stored(repo string, typ overlay.Type, name string, size int64) {
	if t == nil {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch typ {
	case overlay.Snapshots:
		r := t.entry(repo, true)
		if r == nil {
			return
		}
		r.lastSnapshot = now
		if r.snapshots != nil {
			r.snapshots[name] = struct{}{}
		}
	case overlay.Data:
		if r := t.entry(repo, true); r != nil && r.dataKnown {
			r.packs++
			r.bytes += max(size, 0)
		}
	case overlay.Locks:
		if r := t.entry(repo, true); r != nil {
			if _, ok := r.locks[name]; !ok {
				r.locks[name] = now
			}
		}
	}
}

// Removed records a successful delete of typ/name in repo. A deleted
// pack's size is not known without a remote call: its share of the bytes
// is the mean pack size, until the next listing of data/ sets it right.
func (t *Tracker) Removed(repo string, typ overlay.Type, name string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.entry(repo, false)
	if r == nil {
		return
	}
	switch typ {
	case overlay.Snapshots:
		delete(r.snapshots, name)
	case overlay.Data:
		if r.dataKnown && r.packs > 0 {
			r.bytes -= r.bytes / int64(r.packs)
			r.packs--
		}
	case overlay.Locks:
		delete(r.locks, name)
	}
}
