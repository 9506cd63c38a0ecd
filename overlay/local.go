package overlay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// localRecords is the recordStore of one instance: records in memory, indexed
// by remote path and by folder, made durable in a bbolt journal (nil
// without a state folder). It is the only code that reads or changes
// record state: everything else holds copies and asks for changes.
//
// A record in byKey and byDir is never changed in place: a change puts a
// new one (set, apply). So a listing's view, taken under the read lock,
// is read after the lock is released, and listings block no other read.
type localRecords struct {
	mu    sync.RWMutex
	byKey map[string]*record
	byDir map[string]*folder // listed folder -> its records, by name

	// held keeps the bytes of deferred locks until their record goes:
	// the remote cannot serve them before their upload (and lags after
	// it), and the content cache may evict them.
	held map[string][]byte

	journal *journal
	locks   keyedMutex
	drops   sync.WaitGroup // background journal drops
	log     *slog.Logger
}

var _ recordStore = (*localRecords)(nil)

// openLocalRecords opens the overlay of the remote named remote, reloading the
// journal in stateDir ("" keeps records in memory only). onData receives
// the bytes the journal kept of small uploads.
func openLocalRecords(stateDir, remote string, log *slog.Logger, onData func(key string, data []byte)) (*localRecords, error) {
	o := &localRecords{byKey: map[string]*record{}, byDir: map[string]*folder{}, held: map[string][]byte{}, log: log}
	if stateDir == "" {
		return o, nil
	}
	j, err := openJournal(stateDir, remote)
	if err != nil {
		return nil, err
	}
	o.journal = j
	if err := o.reload(onData); err != nil {
		j.close()
		return nil, err
	}
	return o, nil
}

// reload brings the journal's records back after a restart.
func (o *localRecords) reload(onData func(key string, data []byte)) error {
	err := o.journal.load(func(key string, jr journalRecord) error {
		r, err := fromJournal(key, jr)
		if err != nil {
			return err
		}
		o.set(r, jr.Data)
		if r.kind == created && len(jr.Data) > 0 && int64(len(jr.Data)) == jr.Size {
			onData(key, jr.Data)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reload journal: %w", err)
	}
	return nil
}

func (o *localRecords) lock(_ context.Context, key objectKey) (func(), error) {
	return o.locks.lock(key.path), nil
}

func (o *localRecords) get(_ context.Context, key objectKey) (record, bool, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if r := o.byKey[key.path]; r != nil {
		return *r, true, nil
	}
	return record{}, false, nil
}

func (o *localRecords) create(_ context.Context, r record, data []byte) error {
	if o.journal != nil {
		// Without the journal entry a restart could not keep the object
		// visible, so the caller must not acknowledge it.
		if err := o.journal.put(r.key.path, journalOf(r, data)); err != nil {
			return err
		}
	}
	o.set(r, data)
	return nil
}

// content answers for deferred locks only: reload put the journal's other
// bytes in the Store's content cache, and nothing else holds them.
func (o *localRecords) content(_ context.Context, key objectKey) ([]byte, bool, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	b, ok := o.held[key.path]
	return b, ok, nil
}

func (o *localRecords) prepareDelete(_ context.Context, r record) error {
	if o.journal == nil {
		return nil
	}
	return o.journal.put(r.key.path, journalOf(r, nil))
}

func (o *localRecords) tombstone(_ context.Context, r record) error {
	o.set(r, nil)
	switch {
	case o.journal == nil || r.reap:
		return nil // the prepared entry already says reap
	case !r.pending():
		// Confirmed: the journal needs nothing of it, only the entry it
		// replaces gone (what a confirmation's drop would do after).
		return o.journal.delete(r.key.path)
	}
	// If this fails the entry on disk still says reap: after a restart the
	// reaper finds the object gone and the tombstone retires at the settle
	// window, still hiding it until then. So a removal the remote accepted
	// (after prepareDelete) is not waited for: the delete is durable.
	if !r.removedAt.IsZero() {
		o.journal.putLater(r.key.path, journalOf(r, nil), func(err error) {
			o.log.Warn("could not update the journal", "key", r.key.path, "err", err)
		})
		return nil
	}
	return o.journal.put(r.key.path, journalOf(r, nil))
}

// cancelDelete writes prev back over the prepared entry, without its
// bytes (prepareDelete overwrote them). A deferred prev is never one the
// remote lacks (Remove tombstones those without asking the remote), so
// journalOf keeps it as a plain created record.
func (o *localRecords) cancelDelete(_ context.Context, key objectKey, prev *record) error {
	if o.journal == nil {
		return nil
	}
	if prev != nil {
		return o.journal.put(key.path, journalOf(*prev, nil))
	}
	return o.journal.delete(key.path)
}

func (o *localRecords) viewDir(_ context.Context, dir string) ([]*record, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if f := o.byDir[dir]; f != nil {
		return f.view(), nil
	}
	return nil, nil
}

func (o *localRecords) apply(_ context.Context, cs []change) ([]change, error) {
	var applied []change
	var drop []retiredRec      // journal entries no longer needed
	var rewrite []journalEntry // records whose journal entry changes, as of now
	o.mu.Lock()
	for _, c := range cs {
		cur := o.byKey[c.rec.key.path]
		if cur == nil || !c.rec.unchanged(*cur) {
			continue // written again, retired, or changed since the decision
		}
		if next, drops := c.next(*cur); drops {
			o.dropLocked(cur)
		} else {
			cur = o.putLocked(next) // a new record: views taken before keep the old one
		}
		// What the journal learns of it. A restart forgets a confirmed
		// record safely (the record itself stays for retireGrace), and a
		// retired one's entry went at its confirmation. An uploaded lock's
		// entry keeps its bytes: a lagging remote may not serve it yet.
		switch c.op {
		case chConfirm, chExpire, chRefused:
			drop = append(drop, retiredRec{key: cur.key.path, at: cur.at})
		case chFlip, chReaped, chUploaded:
			rewrite = append(rewrite, journalEntry{key: cur.key.path, jr: journalOf(*cur, o.held[cur.key.path])})
		}
		c.rec = *cur
		applied = append(applied, c)
	}
	o.mu.Unlock()
	o.journalDrop(drop)
	if o.journal != nil {
		for _, e := range rewrite {
			if err := o.journal.put(e.key, e.jr); err != nil {
				o.log.Warn("could not update the journal", "key", e.key, "err", err)
			}
		}
	}
	return applied, nil
}

func (o *localRecords) due(_ context.Context, now time.Time, settle time.Duration) (work, error) {
	l := newWorkList(now, settle)
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, r := range o.byKey {
		l.add(r) // records are replaced, never changed in place: shared, not copied
	}
	return l.w, nil
}

func (o *localRecords) counts() counts {
	c := o.tally(func(record) string { return "" })[""]
	if o.journal != nil {
		c.journalBytes = o.journal.size()
	}
	return c
}

func (o *localRecords) countsByRepo() map[string]counts { return o.tally(record.repo) }

// tally counts the pending records by group.
func (o *localRecords) tally(group func(record) string) map[string]counts {
	by := map[string]counts{}
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, r := range o.byKey {
		cl := classOf(*r)
		if cl == countNone {
			continue
		}
		g := group(*r)
		c := by[g]
		c.add(cl, 1, r.at)
		by[g] = c
	}
	return by
}

func (o *localRecords) ready(context.Context) error {
	if o.journal == nil {
		return nil
	}
	if err := o.journal.probe(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func (o *localRecords) close() error {
	o.drops.Wait()
	if o.journal != nil {
		return o.journal.close()
	}
	return nil
}

// journalEntry is a journal record with its key, taken under mu.
type journalEntry struct {
	key string
	jr  journalRecord
}

// set replaces the record for key with a copy of r; data is a deferred
// lock's content.
func (o *localRecords) set(rec record, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.putLocked(rec)
	if r.deferred {
		o.held[r.key.path] = data
	} else {
		delete(o.held, r.key.path)
	}
}

// putLocked makes a copy of rec the current record of its key and returns
// it; the overlay owns it, and never changes it (caller holds mu).
func (o *localRecords) putLocked(rec record) *record {
	r := &rec
	o.byKey[r.key.path] = r
	if r.isConfig() {
		return r // never listed: confirmed by a lookup instead
	}
	f := o.byDir[r.key.dir]
	if f == nil {
		f = newFolder()
		o.byDir[r.key.dir] = f
	}
	f.set(r)
	return r
}

// dropLocked removes r, the current record of its key (caller holds mu).
func (o *localRecords) dropLocked(r *record) {
	delete(o.byKey, r.key.path)
	delete(o.held, r.key.path)
	if f := o.byDir[r.key.dir]; f != nil {
		f.remove(r)
		if f.len() == 0 {
			delete(o.byDir, r.key.dir)
		}
	}
}

// journalDrop removes retired records from the journal in one transaction,
// in the background: a retirement need not be durable (a stale entry
// reloaded after a restart is confirmed again), and a listing that
// confirms thousands of records must not wait for the disk.
func (o *localRecords) journalDrop(retired []retiredRec) {
	if o.journal == nil || len(retired) == 0 {
		return
	}
	o.drops.Add(1)
	go func() {
		defer o.drops.Done()
		if err := o.journal.dropRetired(retired); err != nil {
			o.log.Warn("could not drop retired records from the journal", "records", len(retired), "err", err)
		}
	}()
}
