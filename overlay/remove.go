package overlay

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Remove deletes an object. Removing an object that does not exist
// succeeds. The delete sticks even when the remote cannot remove the
// object yet: a journaled tombstone hides it, and the reaper retries the
// removal until the remote confirms it.
func (s *Store) Remove(ctx context.Context, h Handle) error {
	if err := h.Validate(); err != nil {
		return err
	}
	key := h.key()
	if err := s.checkRemove(h, key); err != nil {
		return err
	}
	unlock, err := s.ov.lock(ctx, key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", h, err)
	}
	defer unlock()

	prev, had, err := s.ov.get(ctx, key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", h, err)
	}
	if had && prev.kind == tombstone {
		return nil // deleted already; the reaper owns what is left to do
	}
	if had && prev.neverUploaded() {
		// A write-behind lock the remote never got, as far as the records
		// go: nothing to remove there. The tombstone retires at the next
		// listing that leaves the lock out. It is one of an object not
		// known to exist (no removedAt): should a listing show a copy
		// after all (an upload that stored it but failed to answer, or
		// whose record did not apply), it turns into a reap and the copy
		// is removed, instead of being hidden until the settle window and
		// then coming back.
		ts := record{kind: tombstone, key: key, at: time.Now()}
		if prev.uploadNeverTried() {
			// No upload of it was ever started: the remote holds nothing
			// a listing could show, so the tombstone is born confirmed,
			// not confirmed by a listing of locks/ that the confirmer
			// would otherwise make after every restic command. It still
			// hides the name for retireGrace, and then retires.
			ts.confirmed = ts.at
		}
		if err := s.ov.tombstone(ctx, ts); err != nil {
			return fmt.Errorf("delete %s: %w", h, err)
		}
		s.countRemoved(key, &prev, nil)
		s.forget(key.path)
		s.event(EventLockNeverUploaded, 1)
		return nil
	}
	ts := record{kind: tombstone, key: key, at: time.Now(), reap: true}
	// Durable intent first: a crash between the remote removal and the
	// record must not let a lagging listing bring the object back.
	if err := s.ov.prepareDelete(ctx, ts); err != nil {
		return fmt.Errorf("delete %s: %w", h, err)
	}
	// Known to exist: we wrote it, or the remote listed or showed it.
	obj := s.handles.forDelete(key.path)
	known := had || obj != nil
	var prevp *record
	if had {
		obj, prevp = prev.obj, &prev
	}
	s.handles.remove(key.path)
	start := time.Now()
	if obj == nil {
		obj, err = s.stat(ctx, key.path)
	}
	if err == nil {
		known = true
		err = s.removeObject(ctx, obj, removeForClient)
	}
	if had {
		if isNotFound(err) {
			s.lag.observe(&prev, false, 0, start) // a fresh upload not shown yet: the lag
		}
		s.lag.forget(&prev)
	}
	switch {
	case err == nil:
		ts.reap, ts.removedAt = false, time.Now()
	case !isNotFound(err) && classify(err) != failTransient:
		// The remote refuses for good (permission, a permanent error):
		// retrying cannot heal it, so the client is told instead of
		// getting a 200 for a delete that will never happen.
		if cerr := s.ov.cancelDelete(ctx, key, prevp); cerr != nil {
			s.log.Warn("could not restore the overlay record of a refused delete", "object", h, "err", cerr)
		}
		return remoteErr(fmt.Sprintf("delete %s", h), err)
	case isNotFound(err) && !known:
		// Nothing we know of: the tombstone only masks a lagging listing,
		// and turns into a reap if a listing shows the object after all.
		ts.reap = false
	default:
		// The remote could not remove an object we know exists (it still
		// hides a fresh upload, or failed): absorb the delete, reap later.
		s.objectEvent(EventDeleteAbsorbed, key, err, time.Now())
		s.log.Info("delete absorbed: the remote could not remove the object yet; the reaper will retry",
			"object", h, "err", err)
	}
	if err := s.ov.tombstone(ctx, ts); err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			// A shared overlay out of reach did not publish the delete:
			// the other instances would still show the object. The
			// intent is kept (prepareDelete), and restic retries.
			return fmt.Errorf("delete %s: %w", h, err)
		}
		// The local journal: memory has the tombstone, and the prepared
		// entry on disk still says reap.
		s.log.Warn("could not update the journal", "object", h, "err", err)
	}
	s.countRemoved(key, prevp, obj)
	s.forget(key.path)
	return nil
}

// forget drops the bytes this instance keeps of a deleted object.
func (s *Store) forget(key string) {
	s.content.remove(key)
	s.spool.remove(key)
}
