package overlay

import (
	"context"
	"io"
	"time"

	"github.com/rclone/rclone/fs"
)

// cleanupWait bounds how long Close waits for the clean-up of rejected
// uploads: a backend's own clean-up may sleep without looking at its
// context (pcloud's does, for 5 s), and shutdown must not wait for it.
const cleanupWait = 2 * time.Second

// putResult is what a backend's Put returned.
type putResult struct {
	obj fs.Object
	err error
}

// putChecked streams a verified body to the remote as key (and to
// spooled, when not nil).
//
// When the verifier rejects the body (short, long, or the wrong SHA-256)
// it cancels the backend's context, so that a backend that cleans up an
// aborted upload by deleting whatever is under the name (pcloud looks the
// name up and deletes it, for up to 5 s) can delete nothing it did not
// write, not even a complete object uploaded before. It then waits for the
// backend and dropRejected, so nothing of the upload is left when the
// client is answered, except during a shutdown (Stop) or when the client
// is gone: then it returns at once, and the backend finishes in the
// background holding the name's lock (handed over through unlock), so a
// retried upload of the same name cannot race that clean-up.
func (s *Store) putChecked(ctx context.Context, key objectKey, vr *verifyReader, size int64, unlock *func(), spooled *spoolWriter) (obj fs.Object, rejected bool, err error) {
	before := s.knownSize(key)
	var body io.Reader = vr
	if spooled != nil {
		body = io.TeeReader(vr, spooled) // the spool sees the bytes the remote is sent
	}
	upCtx, cancel := context.WithCancel(ctx)
	// Cancelled before the backend sees the read error: its clean-up may
	// look the name up at once.
	vr.onFail = cancel
	done := make(chan putResult, 1)
	go func() {
		o, err := s.putStream(upCtx, key.path, body, size)
		done <- putResult{o, err}
	}()
	var res *putResult
	select {
	case r := <-done:
		res = &r
	case <-vr.failed:
	}
	if !vr.rejected() {
		cancel()
		return res.obj, false, res.err
	}
	cancel()
	if res == nil {
		// Answer after the backend's own clean-up, so that nothing of the
		// aborted upload is left once the client hears of it; but not
		// during a shutdown, nor for a client that is gone.
		select {
		case r := <-done:
			res = &r
		case <-s.stop:
		case <-ctx.Done():
		}
	}
	if res != nil {
		s.dropRejected(key, size, before, *res)
		return nil, true, nil
	}
	held := *unlock
	*unlock = func() {}
	s.cleanups.Add(1)
	go func() {
		defer s.cleanups.Done()
		defer held()
		s.dropRejected(key, size, before, <-done)
	}()
	return nil, true, nil
}

// knownSize is the size of the object key that the overlay or the handle
// cache knows of, or -1: what a rejected upload must not remove.
func (s *Store) knownSize(key objectKey) int64 {
	if r, ok, err := s.ov.get(s.bgCtx, key); err == nil && ok {
		if r.kind == created {
			return r.size
		}
		return -1
	}
	if obj := s.handles.get(key.path); obj != nil {
		return obj.Size()
	}
	return -1
}

// dropRejected removes what a rejected upload left under its final name.
// The verifier never hands a backend the last bytes of a bad body, so an
// object of the declared size (or of the size known before the upload) is
// a complete one from an earlier upload and stays; any other object under
// the name is the aborted upload's partial and goes. The handle a failed
// Put returns is never removed: it may be a placeholder without identity
// (pcloud's has no file id, and removing it sends deletefile?fileid=).
func (s *Store) dropRejected(key objectKey, size, before int64, res putResult) {
	ctx := s.bgCtx
	obj := res.obj
	if res.err != nil || obj == nil {
		obj = nil
		err := s.remote(OpStat, func() (err error) {
			obj, err = s.f.NewObject(ctx, key.path)
			return err
		})
		if err != nil {
			if !isNotFound(err) && ctx.Err() == nil {
				s.log.Warn("could not check for what a rejected upload left", "object", key.path, "err", err)
			}
			return
		}
	}
	if !leftover(key, obj.Size(), size, before) {
		return
	}
	err := s.removeObject(ctx, obj, removeOwnUpload)
	if err != nil && !isNotFound(err) {
		s.log.Warn("could not remove what a rejected upload left", "object", key.path, "size", obj.Size(), "err", err)
		return
	}
	s.log.Info("removed what a failed or rejected upload left", "object", key.path, "size", obj.Size())
}

// leftover tells whether an object of got bytes at key, found after a
// failed or rejected upload of size bytes, is what that upload left: not
// of the declared size (complete) nor of the size known before (an
// earlier object). Every name but config is its content's hash, so an
// earlier object under it has the declared size; a config's may differ
// and be whole, so an unknown config goes only when empty (a config never
// is; rclone's local backend leaves an empty file on a full disk).
func leftover(key objectKey, got, size, before int64) bool {
	switch {
	case got == size || (before >= 0 && got == before):
		return false
	case key.isConfig() && before < 0:
		return got == 0
	}
	return true
}

// dropFailed removes what an upload the remote failed left under its final
// name: rclone's local backend leaves an empty file when the disk is full
// ("preallocate: file too big"), which would then be listed, answer HEAD
// with length 0, and make every retry under --append-only an overwrite.
// The rule is dropRejected's: an object of the declared size, or of the
// size known before, is a complete one and stays. Called under the name's
// lock, before the client is answered.
func (s *Store) dropFailed(key objectKey, size int64, res putResult) {
	if res.err != nil && isNotFound(res.err) {
		return
	}
	s.dropRejected(key, size, s.knownSize(key), res)
}

// waitCleanups waits for the clean-up of rejected uploads, at most
// cleanupWait; what is still running is left to the backend.
func (s *Store) waitCleanups() {
	done := make(chan struct{})
	go func() {
		s.cleanups.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(cleanupWait):
		s.log.Warn("shutdown does not wait for a backend still cleaning up a rejected upload", "waited", cleanupWait)
	}
}
