package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
)

// Object is an object found by Lookup.
type Object struct {
	s    *Store
	h    Handle
	key  objectKey // h's place
	size int64
	obj  fs.Object // as the remote listed it; nil for an overlay record
	rec  *record   // a copy of the overlay's record of a recent write
}

// Size is the object's length in bytes.
func (o *Object) Size() int64 { return o.size }

// Open reads length bytes from offset; length < 0 reads to the end.
func (o *Object) Open(ctx context.Context, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || offset > o.size {
		return nil, fmt.Errorf("%w: offset %d outside 0..%d", ErrInvalid, offset, o.size)
	}
	if length < 0 || offset+length > o.size {
		length = o.size - offset
	}
	if rc, ok := o.s.spool.open(o.key.path, o.size, offset, length); ok {
		o.s.event(EventSpoolRead, 1)
		return rc, nil
	}
	var rc io.ReadCloser
	var err error
	if o.rec == nil {
		rc, err = o.s.openSmall(ctx, o, offset, length)
	} else {
		rc, err = o.s.openRecent(ctx, o.h, o.rec, offset, length)
	}
	if err != nil && o.s.deleted(ctx, o.key) {
		// A DELETE won the race with this read: answer as after it.
		return nil, fmt.Errorf("open %s: %w", o.h, ErrNotFound)
	}
	return rc, err
}

// openSmall reads an object the remote showed. A small one (keys,
// snapshots, index files, config: read by every restic command) is read
// whole once and then served from the content cache; restic objects are
// named by their content, and config changes only through us.
func (s *Store) openSmall(ctx context.Context, o *Object, offset, length int64) (io.ReadCloser, error) {
	key := o.key
	if !s.content.fits(o.size) {
		return s.open(ctx, o.h, o.obj, offset, length)
	}
	if b, ok := s.content.get(key.path); ok && int64(len(b)) == o.size {
		return io.NopCloser(bytes.NewReader(b[offset : offset+length])), nil
	}
	rc, err := s.open(ctx, o.h, o.obj, 0, o.size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, o.size+1))
	if err != nil {
		return nil, &RemoteError{Op: fmt.Sprintf("read %s", o.h), Err: err}
	}
	if int64(len(b)) != o.size {
		return nil, &RemoteError{Op: fmt.Sprintf("read %s", o.h), Err: fmt.Errorf("remote returned %d bytes, listed %d", len(b), o.size)}
	}
	if !s.deleted(ctx, key) {
		s.content.add(key.path, b)
	}
	return io.NopCloser(bytes.NewReader(b[offset : offset+length])), nil
}

// deleted reports whether the overlay holds a tombstone for key. When the
// overlay cannot answer it says no: its callers only use it to give up
// early or to skip caching, and the lookup that follows reports the error.
func (s *Store) deleted(ctx context.Context, key objectKey) bool {
	r, ok, err := s.ov.get(ctx, key)
	return err == nil && ok && r.kind == tombstone
}

func rangeOptions(offset, length int64) []fs.OpenOption {
	if offset == 0 && length < 0 {
		return nil
	}
	end := int64(-1)
	if length >= 0 {
		end = offset + length - 1
	}
	return []fs.OpenOption{&fs.RangeOption{Start: offset, End: end}}
}

func (s *Store) open(ctx context.Context, h Handle, obj fs.Object, offset, length int64) (io.ReadCloser, error) {
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	var rc io.ReadCloser
	err := s.remote(OpGet, func() (err error) {
		rc, err = obj.Open(ctx, rangeOptions(offset, length)...)
		return err
	})
	if err != nil {
		return nil, remoteErr(fmt.Sprintf("open %s", h), err)
	}
	return rc, nil
}

// keptBytes returns the bytes of a recent upload of size bytes that this
// instance still holds: the content cache's, else the overlay's (a
// deferred lock, a small upload through another instance), which then
// go into the cache. err is the overlay's failure to answer.
func (s *Store) keptBytes(ctx context.Context, key objectKey, size int64) ([]byte, bool, error) {
	if b, ok := s.content.get(key.path); ok && int64(len(b)) == size {
		return b, true, nil
	}
	b, ok, err := s.ov.content(ctx, key)
	if err != nil || !ok || int64(len(b)) != size {
		return nil, false, err
	}
	s.content.add(key.path, b)
	return b, true, nil
}

// openRecent reads an object written through us that the remote may not
// show yet: from the content cache, then through the upload's own handle,
// then by asking the remote again with backoff. It never answers not-found
// for an object we wrote and did not delete.
func (s *Store) openRecent(ctx context.Context, h Handle, rec *record, offset, length int64) (io.ReadCloser, error) {
	key := rec.key
	if b, ok, _ := s.keptBytes(ctx, key, rec.size); ok {
		return io.NopCloser(bytes.NewReader(b[offset : offset+length])), nil
	}
	if rec.obj != nil {
		rc, err := s.open(ctx, h, rec.obj, offset, length)
		if err == nil {
			return rc, nil
		}
		s.log.Debug("reading a recent upload through its handle failed; asking the remote again", "object", h, "err", err)
	}
	deadline := time.Now().Add(s.opt.readRetry)
	wait := 100 * time.Millisecond
	var lastErr error
	for attempt := 0; ; attempt++ {
		start := time.Now()
		obj, err := s.stat(ctx, key.path)
		if err == nil {
			s.lag.observe(rec, true, obj.Size(), start)
		} else if isNotFound(err) {
			s.lag.observe(rec, false, 0, start) // the lag itself, not a failure
		}
		if err == nil {
			rc, oerr := s.open(ctx, h, obj, offset, length)
			if oerr == nil {
				if attempt > 0 {
					s.event(EventReadAfterRemote, 1)
				}
				return rc, nil
			}
			err = oerr
		}
		lastErr = err
		if time.Now().Add(wait).After(deadline) || isPermanent(err) || s.deleted(ctx, key) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read %s: %w", h, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
	// Not ErrNotFound: the object exists, the remote just cannot serve it
	// yet. A 5xx makes restic retry.
	return nil, &RemoteError{Op: fmt.Sprintf("read recent upload %s", h), Err: lastErr}
}

// Lookup finds an object; ErrNotFound when it does not exist.
func (s *Store) Lookup(ctx context.Context, h Handle) (*Object, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	o, err := s.lookup(ctx, h, h.key())
	if err == nil && o.rec != nil && o.rec.pending() {
		s.event(EventReadFromOverlay, 1)
	}
	return o, err
}

// lookup finds h, whose place is key.
func (s *Store) lookup(ctx context.Context, h Handle, key objectKey) (*Object, error) {
	rec, ok, err := s.ov.get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("look up %s: overlay: %w", h, err)
	}
	if ok {
		if rec.kind == tombstone {
			return nil, fmt.Errorf("look up %s: %w", h, ErrNotFound)
		}
		return &Object{s: s, h: h, key: key, size: rec.size, rec: &rec}, nil
	}
	if obj := s.handles.get(key.path); obj != nil {
		return &Object{s: s, h: h, key: key, size: obj.Size(), obj: obj}, nil
	}
	start := time.Now()
	obj, err := s.stat(ctx, key.path)
	if err != nil {
		return nil, remoteErr(fmt.Sprintf("look up %s", h), err)
	}
	obj = share(obj) // the handle cache hands it to other requests
	s.handles.add(key.path, obj, start)
	return &Object{s: s, h: h, key: key, size: obj.Size(), obj: obj}, nil
}

// exists reports whether h (at key) exists, the overlay first.
func (s *Store) exists(ctx context.Context, h Handle, key objectKey) (bool, error) {
	_, err := s.lookup(ctx, h, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
