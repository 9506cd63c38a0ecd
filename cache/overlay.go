package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rclone/rclone/fs"
)

// recKind tells what a record remembers.
type recKind uint8

const (
	created   recKind = iota + 1 // written through us, maybe not yet shown by the remote
	tombstone                    // deleted through us, maybe still shown by the remote
)

// record is the overlay's memory of one object. Records live until the
// remote confirms them (its listing agrees) or the settle window passes.
type record struct {
	kind recKind
	key  string // the object's remote path
	dir  string // the type folder the object is listed under (repo/type)
	name string
	size int64     // created: the size written
	obj  fs.Object // created: the handle the upload returned (nil after a restart)
	at   time.Time // when the write or delete was acknowledged

	// Tombstones only. reap: the remote has not confirmed the removal yet
	// (it answered not-found for an object we know exists, or failed), so
	// the reaper keeps trying. removedAt: when the remote accepted the
	// removal; a listing that started after it and leaves the object out
	// confirms the delete.
	reap      bool
	removedAt time.Time
	nextReap  time.Time
	reapTries int

	seen uint64 // the generation of the last merge whose listing showed it

	// confirmed is when the remote confirmed the record. It stays a little
	// longer (retireGrace) so that a listing that started before the
	// confirmation, and returns after it, is still corrected.
	// It is atomic because Lookup asks pending() without the lock.
	confirmed atomic.Int64 // unix nanoseconds, 0 while pending
}

// retireGrace is how long a confirmed record outlives its confirmation:
// longer than any listing in flight at that moment takes to return, and
// than the handles those listings cached live (handleTTL).
const retireGrace = handleTTL + 10*time.Second

// pending reports whether the remote has not confirmed r yet.
func (r *record) pending() bool { return r.confirmed.Load() == 0 }

// confirmedAt is when the remote confirmed r (zero while pending).
func (r *record) confirmedAt() time.Time {
	if n := r.confirmed.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// isConfig tells a repository's config record: it lives in no listed
// folder, so a lookup confirms it instead of a listing.
func (r *record) isConfig() bool { return r.name == string(Config) }

// overlay is the set of records, indexed by remote path and by folder.
type overlay struct {
	mu    sync.RWMutex
	byKey map[string]*record
	byDir map[string]map[string]*record // dir -> name -> record
	gen   uint64                        // merge generation, under mu
}

func newOverlay() *overlay {
	return &overlay{byKey: map[string]*record{}, byDir: map[string]map[string]*record{}}
}

func (o *overlay) get(key string) *record {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.byKey[key]
}

// set replaces the record for key.
func (o *overlay) set(r *record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.byKey[r.key] = r
	if r.isConfig() {
		return // never listed: confirmed by a lookup instead
	}
	names := o.byDir[r.dir]
	if names == nil {
		names = map[string]*record{}
		o.byDir[r.dir] = names
	}
	names[r.name] = r
}

// dropLocked removes r if it is still the record of its object (a newer
// record for the same name stays).
func (o *overlay) dropLocked(r *record) bool {
	if o.byKey[r.key] != r {
		return false
	}
	delete(o.byKey, r.key)
	if names := o.byDir[r.dir]; names != nil {
		delete(names, r.name)
		if len(names) == 0 {
			delete(o.byDir, r.dir)
		}
	}
	return true
}

// counts returns the number of records by state, and when the oldest
// pending reap was recorded (zero if none).
func (o *overlay) counts() (createdN, tombstones, reaps int, oldestReap time.Time) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, r := range o.byKey {
		switch {
		case !r.pending():
		case r.kind == created:
			createdN++
		case r.reap:
			reaps++
			if oldestReap.IsZero() || r.at.Before(oldestReap) {
				oldestReap = r.at
			}
		default:
			tombstones++
		}
	}
	return
}

func (o *overlay) hasDir(dir string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.byDir[dir] != nil
}
