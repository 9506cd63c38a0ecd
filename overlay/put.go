package overlay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
	"github.com/rclone/rclone/fs/object"
)

// PutOptions qualify an upload.
type PutOptions struct {
	// SHA256, when set, is the digest the body must have. The upload fails
	// with ErrHashMismatch, storing nothing, when it differs.
	SHA256 []byte
	// NoOverwrite makes Put fail with ErrExists when the object exists.
	NoOverwrite bool
}

// Put stores size bytes read from body under h. It returns only after the
// remote confirmed the write (size, and hash where the remote keeps one)
// and the overlay journaled it; a lock written behind (LockUploadDelay),
// once the overlay holds it and its bytes durably. A body that is shorter
// or longer than size, or whose digest differs from opt.SHA256, stores
// nothing.
func (s *Store) Put(ctx context.Context, h Handle, body io.Reader, size int64, opt PutOptions) (err error) {
	if err := h.Validate(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: unknown size", ErrSizeMismatch)
	}
	key := h.key()
	unlock, err := s.ov.lock(ctx, key)
	if err != nil {
		return fmt.Errorf("upload %s: %w", h, err)
	}
	defer func() { unlock() }() // putChecked may hand the lock on

	if opt.NoOverwrite {
		found, err := s.exists(ctx, h, key)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("put %s: %w", h, ErrExists)
		}
	}
	defer s.countPut(ctx, key, size, &err)() // usage.go

	behind := s.writeBehind(h, size)
	if behind {
		if behind, err = s.remoteLacks(ctx, key); err != nil {
			return fmt.Errorf("upload %s: %w", h, err)
		}
	}
	vr, err := newVerifyReader(body, size, opt.SHA256, s.verify)
	if err != nil {
		return err
	}
	var kept *bytes.Buffer   // a small body, kept to serve reads while the remote lags
	var spooled *spoolWriter // a large body, kept on disk for the same reason
	var obj fs.Object
	if s.content.fits(size) || behind {
		// Read (and verify) a small body whole first: then a transient
		// remote failure is retried here, instead of making restic print
		// "returned error, retrying" (pCloud's upload is not retried by
		// rclone).
		kept = bytes.NewBuffer(make([]byte, 0, size))
		if _, err := io.Copy(kept, vr); err != nil {
			return fmt.Errorf("upload %s: %w", h, err)
		}
		if behind {
			return s.putDeferred(ctx, h, key, kept.Bytes())
		}
		obj, err = s.putSmall(ctx, key.path, kept.Bytes())
	} else {
		spooled = s.spool.begin(key.path, size)
		defer spooled.abort() // unless committed below
		if spooled == nil && s.spool != nil {
			s.event(EventSpoolSkipped, 1)
		}
		var rejected bool
		obj, rejected, err = s.putChecked(ctx, key, vr, size, &unlock, spooled)
		if rejected {
			return fmt.Errorf("upload %s: %w", h, vr.err)
		}
	}
	if err != nil {
		s.dropFailed(key, size, putResult{obj, err})
		return remoteErr(fmt.Sprintf("upload %s", h), err)
	}
	if err := s.confirm(ctx, obj, size, vr); err != nil {
		s.removeQuietly(ctx, obj)
		return &RemoteError{Op: fmt.Sprintf("upload %s", h), Err: err}
	}

	// The remote has the object; without a durable record a restart could
	// not keep it visible, so the client is not told it is saved and will
	// retry.
	var data []byte
	if kept != nil {
		data = kept.Bytes()
	}
	rec := record{kind: created, key: key, size: size, obj: share(obj), at: time.Now()}
	if err := s.ov.create(ctx, rec, data); err != nil {
		return fmt.Errorf("upload %s: %w", h, err)
	}
	s.handles.remove(key.path) // the record holds the new handle
	if kept != nil {
		s.content.add(key.path, kept.Bytes())
	} else {
		s.content.remove(key.path)
		spooled.commit()
	}
	return nil
}

func (s *Store) putStream(ctx context.Context, key string, in io.Reader, size int64) (obj fs.Object, err error) {
	info := object.NewStaticObjectInfo(key, time.Now(), size, true, nil, s.f)
	err = s.remote(OpPut, func() (err error) {
		obj, err = s.f.Put(ctx, in, info, &fs.HashesOption{Hashes: hash.NewHashSet(s.verify)})
		return err
	})
	return obj, err
}

// putRetries is how often a small upload is tried when the remote fails
// in a way that may heal.
const putRetries = 3

// putSmall uploads a body held in memory, retrying transient failures with
// a short backoff (well inside restic's patience).
func (s *Store) putSmall(ctx context.Context, key string, data []byte) (fs.Object, error) {
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		obj, err := s.putStream(ctx, key, bytes.NewReader(data), int64(len(data)))
		if err == nil || attempt == putRetries || isNotFound(err) || classify(err) != failTransient {
			return obj, err
		}
		s.obs.Retry(OpPut)
		s.log.Info("upload failed; retrying", "object", key, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// confirm checks that the remote holds what we sent.
func (s *Store) confirm(ctx context.Context, obj fs.Object, size int64, vr *verifyReader) error {
	if obj.Size() >= 0 && obj.Size() != size {
		return fmt.Errorf("remote stored %d bytes, sent %d", obj.Size(), size)
	}
	if s.verify == hash.None || vr == nil {
		return nil
	}
	got, err := obj.Hash(ctx, s.verify)
	if err != nil || got == "" {
		// The remote keeps no hash for this object; size has to do.
		return nil
	}
	if want := vr.remoteSum(); !strings.EqualFold(got, want) {
		return fmt.Errorf("remote %v %s differs from sent %s", s.verify, got, want)
	}
	return nil
}

func (s *Store) removeQuietly(ctx context.Context, obj fs.Object) {
	err := s.removeObject(ctx, obj, removeOwnUpload)
	if err != nil && !isNotFound(err) {
		s.log.Warn("could not remove a rejected upload", "object", obj.Remote(), "err", err)
	}
}
