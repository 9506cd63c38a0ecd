package overlay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rclone/rclone/fs/hash"
)

// Write-behind for locks (Options.LockUploadDelay): every restic command
// writes a lock and deletes it seconds later, and most never need to reach
// the remote at all. A lock is acknowledged once the overlay holds it with
// its bytes, durably (the journal, or the shared overlay); listings and
// reads through any instance show it from there. The background uploads
// it after the delay if it still exists, so a long command's lock reaches
// the remote about when a lagging remote would have shown it anyway, and a
// crash between acknowledgement and upload loses nothing: the record, with
// its bytes, comes back and is uploaded then.

// writeBehind tells whether an upload of size bytes under h is a lock the
// overlay acknowledges alone (Options.LockUploadDelay): small enough for
// the overlay to keep its bytes.
func (s *Store) writeBehind(h Handle, size int64) bool {
	return h.Type == Locks && s.opt.LockUploadDelay > 0 && size <= journalDataMax
}

// remoteLacks tells whether, as far as the overlay knows, the remote holds
// no copy of key: a lock is written behind only then. Over a copy the
// remote holds (an earlier upload of the same name, or one whose removal
// is still pending), a delete before the upload would have nothing to
// remove, and the copy would come back when the tombstone retires. restic
// never reuses a lock's name, so its locks are all written behind still;
// the check costs one read of the record.
func (s *Store) remoteLacks(ctx context.Context, key objectKey) (bool, error) {
	r, ok, err := s.ov.get(ctx, key)
	switch {
	case err != nil:
		return false, err
	case !ok:
		return true, nil
	case r.kind == tombstone:
		return !r.reap, nil // removed, or never there
	default:
		return r.neverUploaded(), nil
	}
}

// putDeferred acknowledges a verified lock once the overlay holds it, with
// its bytes, durably; the background uploads it later (uploadDeferred).
func (s *Store) putDeferred(ctx context.Context, h Handle, key objectKey, data []byte) error {
	rec := record{kind: created, key: key, size: int64(len(data)), at: time.Now(), deferred: true, createdHere: true}
	if err := s.ov.create(ctx, rec, data); err != nil {
		return fmt.Errorf("upload %s: %w", h, err)
	}
	s.handles.remove(key.path)
	s.content.add(key.path, data)
	s.event(EventLockDeferred, 1)
	return nil
}

// uploadDeferred uploads a deferred lock that still exists, under its
// name's lock so that a delete waits for it (and then removes it from the
// remote like any other). A failure is retried with backoff; the record
// keeps the lock visible meanwhile.
func (s *Store) uploadDeferred(ctx context.Context, r record) {
	unlock := s.lockUnchanged(ctx, r)
	if unlock == nil {
		return
	}
	defer unlock()
	if !isLockKey(r.key.path) {
		// Only locks are written behind (writeBehind): anything else is a
		// forged record that would overwrite an object.
		s.refuse(ctx, r)
		return
	}
	data, ok, err := s.keptBytes(ctx, r.key, r.size)
	if err != nil {
		return
	}
	c := change{op: chUploaded, rec: r}
	tries := r.tries + 1
	if !ok {
		// Nothing to upload, nor to serve (a shared overlay that lost
		// them). The record stays, since deferred records do not expire:
		// the lock still holds the repository, as a lock left by a
		// crashed restic does, until `restic unlock --remove-all`. Asked
		// again with the backoff of a failed upload, so this is logged
		// at most once a minute.
		c.op, c.at = chReapFailed, retryAt(time.Now(), tries)
		s.log.Error("a deferred lock's bytes are gone; it is not uploaded (restic unlock --remove-all removes it)", "object", r.key.path, "tries", tries)
	} else {
		obj, err := s.putSmall(ctx, r.key.path, data)
		if err != nil {
			s.dropFailed(r.key, r.size, putResult{obj, err})
		} else {
			err = s.confirm(ctx, obj, r.size, sumOf(data, s.verify))
		}
		if err != nil {
			c.op, c.at = chReapFailed, retryAt(time.Now(), tries)
			s.log.Warn("could not upload a deferred lock yet; retrying", "object", r.key.path, "tries", tries, "err", err)
		}
	}
	if _, err := s.apply(ctx, []change{c}); err != nil {
		s.log.Warn("overlay: could not record a deferred upload", "object", r.key.path, "err", err)
	}
}

// sumOf is a verifyReader that has read data, for confirm.
func sumOf(data []byte, remoteHash hash.Type) *verifyReader {
	vr, err := newVerifyReader(bytes.NewReader(data), int64(len(data)), nil, remoteHash)
	if err == nil {
		_, _ = io.Copy(io.Discard, vr)
	}
	return vr
}
