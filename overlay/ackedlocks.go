package overlay

import (
	"context"
	"sync"
	"sync/atomic"
)

// When Redis loses its data (a flush, a restart without persistence, a
// failover to an empty replica), the records of locks acknowledged
// through it go too: a lock written behind is then never uploaded, and
// one the lagging remote does not show yet reads 404. Either lets a prune
// elsewhere run during the backup that holds it. The instance that
// acknowledged such a lock still has its bytes: it keeps them here until
// the records no longer need them, and publishes them again when the
// marker says Redis lost its data. Locks only: they are small, and the
// one object restic must see through another host at once.

// ackedMax bounds how many locks an instance keeps: restic holds one per
// running command, and a lock stays only until the remote confirms it.
const ackedMax = 10000

// ackedLock is a lock this instance acknowledged, as it acknowledged it.
type ackedLock struct {
	r    record
	data []byte
}

// ackedLocks are the locks this instance acknowledged through the shared
// overlay that the remote has not confirmed yet.
type ackedLocks struct {
	mu sync.Mutex
	m  map[string]ackedLock
	// unpublished: a loss was detected and publishing them again failed;
	// until it succeeds no record's absence may be taken for a delete.
	unpublished atomic.Bool
}

func newAckedLocks() *ackedLocks { return &ackedLocks{m: map[string]ackedLock{}} }

// add keeps r, a lock record about to be published, with its bytes.
func (a *ackedLocks) add(r record, data []byte) {
	if !isLockKey(r.key.path) || int64(len(data)) != r.size {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.m) < ackedMax {
		r.obj = nil
		a.m[r.key.path] = ackedLock{r: r, data: data}
	}
}

// remove forgets key's lock: deleted, confirmed, or replaced.
func (a *ackedLocks) remove(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, key)
}

func (a *ackedLocks) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}

func (a *ackedLocks) all() []ackedLock {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ackedLock, 0, len(a.m))
	for _, l := range a.m {
		out = append(out, l)
	}
	return out
}

// settleAcked forgets the kept locks whose records no longer need them:
// gone (deleted and retired, through any instance), a tombstone, replaced,
// or confirmed by the remote. The records and the marker are read in one
// transaction, so that a record gone because Redis lost everything is not
// taken for one deleted: then the marker differs, and checkMarker
// publishes the locks again instead.
func (o *sharedRecords) settleAcked(ctx context.Context) {
	if o.acked.unpublished.Load() {
		o.republishAcked(ctx)
		return
	}
	locks := o.acked.all()
	if len(locks) == 0 {
		return
	}
	keys := make([]objectKey, len(locks))
	for i, l := range locks {
		keys[i] = l.r.key
	}
	marker, reads, err := o.readRecords(ctx, keys, true)
	if err != nil {
		return
	}
	if marker.err != nil || !marker.found || marker.val != o.id() {
		return // lost or changed: the next checkMarker publishes them again
	}
	for i, l := range locks {
		rd := reads[i]
		if rd.err != nil {
			continue
		}
		if rd.found {
			cur, derr := decodeRecord(l.r.key, rd.val)
			if derr == nil && cur.kind == created && cur.at.Equal(l.r.at) && cur.pending() {
				continue // still needed
			}
		}
		o.acked.remove(l.r.key.path)
	}
}

// republishAcked publishes the kept locks again after Redis lost its
// data, each only where no record of its name exists now (a delete
// through another instance since the loss wins).
func (o *sharedRecords) republishAcked(ctx context.Context) {
	locks := o.acked.all()
	if len(locks) == 0 {
		o.acked.unpublished.Store(false)
		return
	}
	ws := make([]write, len(locks))
	for i, l := range locks {
		ws[i] = write{expect: expectAbsent, r: l.r, data: l.data}
	}
	ok, err := o.writeAll(ctx, SharedCreate, ws)
	o.acked.unpublished.Store(err != nil) // tried again next round
	if err != nil {
		o.log.Error("shared overlay: could not publish again the locks this instance acknowledged before Redis lost them; trying again", "locks", len(locks), "err", err)
		return
	}
	n := 0
	for _, applied := range ok {
		if applied {
			n++
		}
	}
	if n == 0 {
		return
	}
	o.event(EventLocksRepublished, n)
	o.log.Warn("shared overlay: published again the locks this instance acknowledged before Redis lost them", "locks", n)
}
