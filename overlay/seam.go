package overlay

import (
	"context"
	"time"

	"github.com/rclone/rclone/fs"
)

// recordStore is the seam between the Store (protocol, remote calls,
// caches) and the overlay's record state. It has two implementations:
// localRecords (memory plus a bbolt journal, one instance's) and sharedRecords
// (Redis, shared by the instances given one --shared URL). The Store and the
// rules in merge.go are the same over both. The rules decide (judge,
// mergeListing); a recordStore only keeps records and applies the changes
// they return. recordstore_test.go runs this contract against both.
// What an implementation can tell besides (its journal, its marker, its
// leases) is an optional interface of its own (capabilities.go).
//
// Every method is safe for concurrent use. An error means the state
// could not be read or made durable; the Store then refuses the request
// rather than answer from a view it cannot trust. The error's type picks
// the status: a failure that may heal (a shared store out of reach)
// should wrap a *RemoteError, which the proxy answers with 503 and restic
// retries; a plain error (a local journal that cannot be written) is 500.
type recordStore interface {
	// lock orders operations on one object until unlock is called: a Put
	// and a Remove of one name never interleave. Shared by instances, it
	// is a lease that lapses if its holder dies.
	lock(ctx context.Context, key objectKey) (unlock func(), err error)

	// get returns key's current record, ok false when there is none.
	get(ctx context.Context, key objectKey) (r record, ok bool, err error)

	// create records an upload the remote confirmed, replacing any
	// record of key, and returns once it is durable (the Store
	// acknowledges the upload only then). data, when not nil, is the
	// whole body of a small object: kept with the record so that it can
	// be served while the remote lags (after a restart, or elsewhere).
	create(ctx context.Context, r record, data []byte) error
	// content returns the bytes create kept for key's current record, ok
	// false when it has none. The Store asks only after its own content
	// cache missed, so an implementation that feeds that cache itself
	// (the local one, at reload) may always answer false.
	content(ctx context.Context, key objectKey) (data []byte, ok bool, err error)

	// prepareDelete makes the intent to delete durable without publishing
	// it: reads still see the previous record, and after a crash the
	// tombstone r (a pending reap) comes back. Then either tombstone(r)
	// or cancelDelete follows.
	prepareDelete(ctx context.Context, r record) error
	// tombstone publishes r, replacing any record of its key. An error
	// means r's final state may not be durable; the prepared intent is.
	// r may be confirmed already (a lock the remote never got): then, as
	// after any confirmation, a restart may forget it, but must not bring
	// back the record it replaced.
	tombstone(ctx context.Context, r record) error
	// cancelDelete undoes prepareDelete after the remote refused the
	// delete: prev (nil for none) is what key had before.
	cancelDelete(ctx context.Context, key objectKey, prev *record) error

	// viewDir returns the records of one listed folder in name order, for
	// one merge: records the store never changes in place, so the caller
	// reads them after the call, holding nothing that blocks the others.
	viewDir(ctx context.Context, dir string) ([]*record, error)

	// apply makes the changes whose record is still current and as the
	// decision saw it (unchanged), skips the others, and returns those it
	// made, each with its record as it is now. A change never applies to
	// a newer record of the same key.
	apply(ctx context.Context, cs []change) ([]change, error)

	// due returns the background work at now: pending reaps whose retry
	// time came, what the confirmer may check, and records to expire or
	// retire. Shared by instances, it hands each item to one of them.
	due(ctx context.Context, now time.Time, settle time.Duration) (work, error)

	// counts summarises the pending records, for Stats (read at every
	// scrape); countsByRepo does so per repository (record.repo), for the
	// status page.
	counts() counts
	countsByRepo() map[string]counts
	// ready tells whether the state can be written now (readiness probe).
	ready(ctx context.Context) error
	// close releases the state; records stay for the next start.
	close() error
}

// recKind tells what a record remembers.
type recKind uint8

const (
	created   recKind = iota + 1 // written through us, maybe not yet shown by the remote
	tombstone                    // deleted through us, maybe still shown by the remote
)

// record is the overlay's memory of one object, as a value: the Store
// only ever holds copies. Records live until the remote confirms them
// (its listing or a lookup agrees) or the settle window passes.
type record struct {
	kind recKind
	key  objectKey // the object's place: remote path, listed folder, name
	size int64     // created: the size written
	obj  fs.Object // created: the upload's handle; a local hint, nil after a restart or from a shared store
	at   time.Time // when the write or delete was acknowledged; with key, names this record

	// deferred: a created lock acknowledged from the overlay alone (its
	// bytes kept with the record); the background uploads it after
	// Options.LockUploadDelay if it still exists. A delete before then
	// costs the remote nothing.
	deferred bool
	// createdHere: made by this process in its local overlay, not
	// reloaded from the journal nor read from a shared store. The local
	// overlay's memory then holds the outcome of every upload attempt of
	// a deferred lock (chUploaded, or chReapFailed counting it), applied
	// under the name's lock before the lock is released. A hint, not part
	// of the record's state: no journal or shared store keeps it.
	createdHere bool

	// Tombstones. reap: the remote has not confirmed the removal yet (it
	// answered not-found for an object we know exists, or failed), so the
	// reaper keeps trying. removedAt: when the remote accepted the
	// removal; a listing that started after it and leaves the object out
	// confirms the delete. nextTry and tries: when the background work
	// that failed (a reap, or a deferred lock's upload) is tried again,
	// and how often it failed in a row.
	reap      bool
	removedAt time.Time
	nextTry   time.Time
	tries     int

	// confirmed is when the remote confirmed the record (zero while
	// pending). It stays a little longer (retireGrace) so that a listing
	// that started before the confirmation, and returns after it, is
	// still corrected.
	confirmed time.Time
}

// retireGrace is how long a confirmed record outlives its confirmation:
// longer than any listing in flight at that moment takes to return, and
// than the handles those listings cached live (handleTTL).
const retireGrace = handleTTL + 10*time.Second

// confirmMinAge is how long a unit must be quiet before the confirmer
// looks at it (quietWait's floor): restic lists locks/, snapshots/ and
// index/ itself at the start of every command, and those listings confirm
// records for free.
const confirmMinAge = 5 * time.Second

// state names what r remembers, for logs.
func (r record) state() string {
	switch {
	case r.kind == tombstone && r.reap:
		return "pending reap"
	case r.kind == tombstone:
		return "tombstone"
	case r.deferred:
		return "deferred lock"
	}
	return "created"
}

// pending reports whether the remote has not confirmed r yet.
func (r record) pending() bool { return r.confirmed.IsZero() }

// isConfig tells a repository's config record (objectKey.isConfig).
func (r record) isConfig() bool { return r.key.isConfig() }

// repo is the repository path the record belongs to ("" for the root).
func (r record) repo() string { return r.key.repo() }

// unchanged reports whether cur is still the record a decision saw as r:
// the same record (kind and time) in the same state.
func (r record) unchanged(cur record) bool {
	return r.kind == cur.kind && r.at.Equal(cur.at) && r.reap == cur.reap && r.deferred == cur.deferred &&
		r.removedAt.Equal(cur.removedAt) && r.confirmed.Equal(cur.confirmed)
}

// confirmable reports whether the confirmer can check r: the remote can
// agree with it. When it looks is the pacing's to decide (confirm.go).
func (r record) confirmable() bool {
	return r.pending() && !r.deferred && (r.kind == created || !r.reap)
}

// neverUploaded reports whether r is a deferred lock the remote never got.
// A deferred record a listing confirmed is not: the remote shows a copy,
// uploaded by a round whose record of it did not apply.
func (r record) neverUploaded() bool { return r.deferred && r.pending() }

// uploadNeverTried reports whether r is a deferred lock that no upload
// was ever started for, so that the remote holds nothing of it: no attempt
// is recorded (tries), and r was created here, where every attempt is
// (createdHere). Read under the name's lock, which an upload holds from
// before it starts until its outcome is applied.
func (r record) uploadNeverTried() bool {
	return r.neverUploaded() && r.createdHere && r.tries == 0
}

// uploadDue reports whether r is a deferred lock whose upload the
// background should try at now: delay after its acknowledgement, and
// after its last failed attempt's backoff.
func (r record) uploadDue(now time.Time, delay time.Duration) bool {
	return r.deferred && now.Sub(r.at) >= delay && !now.Before(r.nextTry)
}

// reapDue reports whether the reaper should retry r's removal at now.
func (r record) reapDue(now time.Time) bool {
	return r.kind == tombstone && r.reap && !now.Before(r.nextTry)
}

// changeOp is a transition of a record that a rule decided.
type changeOp uint8

const (
	chConfirm    changeOp = iota + 1 // the remote agreed (listing or lookup); at: when
	chFlip                           // a tombstone of an object not known to exist turns into a pending reap: the remote shows it
	chReaped                         // the reaper removed the object; at: when
	chReapFailed                     // the reaper could not remove it (or a deferred upload failed); at: the next attempt
	chUploaded                       // a deferred lock reached the remote
	chExpire                         // pending past the settle window: dropped without confirmation
	chRetire                         // confirmed and past retireGrace: dropped
	chRefused                        // asks for what the policy forbids (policy.go): dropped
)

// change is one transition, made only if rec is still unchanged.
type change struct {
	op  changeOp
	rec record // the record as the decision saw it
	at  time.Time
}

// next is the record c makes of r, the transition itself, which every
// recordStore applies the same way; drops tells that c removes the record
// instead (chExpire, chRetire).
func (c change) next(r record) (_ record, drops bool) {
	switch c.op {
	case chConfirm:
		r.confirmed = c.at
	case chFlip:
		r.reap = true
	case chReaped:
		r.reap, r.removedAt = false, c.at
	case chReapFailed:
		r.tries++
		r.nextTry = c.at
	case chUploaded:
		r.deferred = false
		r.tries, r.nextTry = 0, time.Time{}
	case chExpire, chRetire, chRefused:
		return r, true
	}
	return r, false
}

// work is what the background loop has to do at one tick.
type work struct {
	uploads []*record // deferred locks, to upload when uploadDue
	reaps   []*record // tombstones whose removal is due
	dirs    []string  // folders whose listing can confirm a record (data/ excepted)
	data    []*record // data records to confirm, by their prefix folder or by name
	configs []*record // config records only a lookup can confirm
	expire  []*record // pending past the settle window (deferred locks wait for their upload instead)
	retire  []*record // confirmed past retireGrace
	// units: for each confirmation unit (confirmUnit) with a record
	// awaiting confirmation, young ones included, when its records were
	// made. The confirmer waits for a unit to be quiet (confirm.go).
	units map[string]unitActivity
}

// counts summarises the records by state.
type counts struct {
	created, tombstones, reaps int
	oldestReap                 time.Time // when the oldest pending reap was recorded, zero if none
	journalBytes               int64
}
