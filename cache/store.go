package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
	"github.com/rclone/rclone/fs/object"
	"github.com/rclone/rclone/fs/walk"
	"golang.org/x/sync/singleflight"
)

// Options configure a Store.
type Options struct {
	// StateDir holds the journal. Empty keeps records in memory only: a
	// restart then forgets them (tests, or a remote that does not lag).
	StateDir string
	// SettleWindow is the longest a record waits for the remote to confirm
	// it before it retires anyway (counted and logged). Default 10m.
	SettleWindow time.Duration
	// ContentCacheBytes bounds the cache of recent small uploads (default
	// 64 MiB; negative disables it). ContentMaxObject is the largest object
	// cached (default 1 MiB).
	ContentCacheBytes int64
	ContentMaxObject  int64
	// ReadRetry bounds how long a read of a recent upload retries the
	// remote when neither the content cache nor the upload's handle can
	// serve it. Default 2m: well under restic's 5-minute watchdog.
	ReadRetry time.Duration
	// Observer receives remote-call timings and overlay events (metrics).
	Observer Observer
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Observer is told what the store does, for metrics. Calls must be cheap
// and must not call back into the store.
type Observer interface {
	// RemoteOp reports one call to the remote: op is put, get, delete,
	// list or stat; err is its outcome.
	RemoteOp(op string, d time.Duration, err error)
	// Event counts an overlay event (the Event* names).
	Event(name string)
	// Visible reports how long the remote took to show a write ("create")
	// or a delete ("delete") after we acknowledged it.
	Visible(kind string, lag time.Duration)
	// Retry counts a remote call the store retries itself (op as in
	// RemoteOp).
	Retry(op string)
}

// Overlay events, counted in Stats and passed to the Observer.
const (
	EventMaskedStale      = "masked_stale_listing"    // a listed object hidden by a tombstone
	EventAddedMissing     = "added_missing_listing"   // a recent create added to a listing that lacked it
	EventReadFromOverlay  = "read_from_overlay"       // HEAD/GET of a write the remote has not confirmed yet
	EventReadAfterRemote  = "read_despite_remote_404" // a read the remote answered not-found, served anyway
	EventDeleteAbsorbed   = "delete_absorbed"         // a DELETE answered 200 while the remote could not remove yet
	EventReapDone         = "reap_done"               // the reaper removed an object the remote had refused to
	EventRetiredConfirmed = "retired_confirmed"       // a record retired because the remote agreed
	EventRetiredTimeout   = "retired_timeout"         // a record retired at the settle window: the guarantee may lapse
)

var eventNames = []string{EventMaskedStale, EventAddedMissing, EventReadFromOverlay, EventReadAfterRemote,
	EventDeleteAbsorbed, EventReapDone, EventRetiredConfirmed, EventRetiredTimeout}

// Stats is a snapshot of the store's state, for metrics and tests.
type Stats struct {
	Created, Tombstones, PendingReaps int
	OldestPendingReap                 time.Duration // age of the oldest pending reap, 0 if none
	ContentBytes                      int64
	ContentHits, ContentMisses        uint64
	JournalBytes                      int64
	Events                            map[string]uint64
}

// Store presents the repositories below one rclone remote path to the
// protocol layer, strongly consistent even when the remote is not (see
// the consistency contract in the README). It is safe for concurrent use.
type Store struct {
	f      fs.Fs
	log    *slog.Logger
	obs    Observer
	opt    Options
	verify hash.Type // the remote's hash used to confirm uploads, or hash.None

	ov      *overlay
	journal *journal // nil without a state folder
	content *contentCache
	lists   singleflight.Group
	handles *handleCache

	listMu    sync.Mutex
	listCache map[string]listing // dir -> the last remote listing (see listCacheTTL)
	locks     keyedMutex
	events    map[string]*atomic.Uint64

	confirmMu sync.Mutex
	pace      map[string]*confirmState // dir -> when the confirmer lists it next

	stop  chan struct{}
	done  chan struct{}
	drops sync.WaitGroup // background journal drops
}

// New returns a Store over f, reloading the journal from opt.StateDir.
func New(f fs.Fs, opt Options) (*Store, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.SettleWindow <= 0 {
		opt.SettleWindow = 10 * time.Minute
	}
	if opt.ContentCacheBytes == 0 {
		opt.ContentCacheBytes = 64 << 20
	}
	if opt.ContentMaxObject <= 0 {
		opt.ContentMaxObject = 1 << 20
	}
	if opt.ReadRetry <= 0 {
		opt.ReadRetry = 2 * time.Minute
	}
	if opt.Observer == nil {
		opt.Observer = nopObserver{}
	}
	s := &Store{
		f:         f,
		log:       opt.Logger,
		obs:       opt.Observer,
		opt:       opt,
		verify:    confirmHash(f.Hashes()),
		ov:        newOverlay(),
		content:   newContentCache(opt.ContentCacheBytes, opt.ContentMaxObject),
		handles:   newHandleCache(),
		listCache: map[string]listing{},
		events:    map[string]*atomic.Uint64{},
		pace:      map[string]*confirmState{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for _, e := range eventNames {
		s.events[e] = new(atomic.Uint64)
	}
	if opt.StateDir != "" {
		j, err := openJournal(opt.StateDir, fs.ConfigString(f))
		if err != nil {
			return nil, err
		}
		s.journal = j
		if err := s.reload(); err != nil {
			j.close()
			return nil, err
		}
	}
	go s.background()
	return s, nil
}

// reload brings the journal's records back after a restart.
func (s *Store) reload() error {
	var n int
	err := s.journal.load(func(key string, jr journalRecord) error {
		dir, name, ok := splitKey(key)
		if !ok {
			return fmt.Errorf("journal record %q: not an object path", key)
		}
		r := &record{key: key, dir: dir, name: name, size: jr.Size, at: jr.At, reap: jr.Reap, removedAt: jr.Rm}
		switch jr.Kind {
		case "c":
			r.kind = created
		case "t":
			r.kind = tombstone
		default:
			return fmt.Errorf("journal record %q: unknown kind %q", key, jr.Kind)
		}
		s.ov.set(r)
		if r.kind == created && len(jr.Data) > 0 && int64(len(jr.Data)) == jr.Size {
			s.content.add(key, jr.Data)
		}
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("reload journal: %w", err)
	}
	if n > 0 {
		c, t, p, _ := s.ov.counts()
		s.log.Info("overlay records reloaded from the journal", "created", c, "tombstones", t, "pending_reaps", p)
	}
	return nil
}

// splitKey splits a journal key (an object's remote path) into the folder
// it is listed under and its name.
func splitKey(key string) (dir, name string, ok bool) {
	i := strings.LastIndexByte(key, '/')
	dir, name = "", key
	if i >= 0 {
		dir, name = key[:i], key[i+1:]
	}
	if name == string(Config) {
		return dir, name, true
	}
	if i < 0 {
		return "", "", false
	}
	// data objects sit one prefix folder deeper than they are listed.
	if j := strings.LastIndexByte(dir, '/'); j >= 0 && len(dir)-j-1 == 2 && isDataDir(dir[:j]) {
		dir = dir[:j]
	}
	return dir, name, IsHexID(name)
}

// Close stops the background work and closes the journal. Records stay in
// the journal for the next start.
func (s *Store) Close() error {
	close(s.stop)
	<-s.done
	s.drops.Wait()
	if s.journal != nil {
		return s.journal.close()
	}
	return nil
}

// Stats returns a snapshot of the overlay's state.
func (s *Store) Stats() Stats {
	c, t, p, oldest := s.ov.counts()
	st := Stats{Created: c, Tombstones: t, PendingReaps: p, ContentBytes: s.content.size(),
		ContentHits: s.content.hits.Load(), ContentMisses: s.content.misses.Load(), Events: map[string]uint64{}}
	if !oldest.IsZero() {
		st.OldestPendingReap = time.Since(oldest)
	}
	if s.journal != nil {
		st.JournalBytes = s.journal.size()
	}
	for name, v := range s.events {
		st.Events[name] = v.Load()
	}
	return st
}

func (s *Store) event(name string, n int) {
	if n <= 0 {
		return
	}
	s.events[name].Add(uint64(n))
	for range n {
		s.obs.Event(name)
	}
}

// remote times one call to the remote and reports it.
func (s *Store) remote(op string, fn func() error) error {
	start := time.Now()
	err := fn()
	s.obs.RemoteOp(op, time.Since(start), err)
	if err != nil && !isNotFound(err) {
		if k := Classify(err); k != KindTransient {
			// One clear line per refused call; these are never retried.
			s.log.Error("remote refused the operation: "+k.String()+"; not retrying", "op", op, "kind", k.String(), "err", err)
		}
	}
	return err
}

// confirmHash picks the hash the remote keeps that we compute while streaming
// an upload, to confirm the remote stored what we sent. SHA-256 first: we
// compute it anyway to check object names.
func confirmHash(set hash.Set) hash.Type {
	for _, t := range []hash.Type{hash.SHA256, hash.MD5, hash.SHA1} {
		if set.Contains(t) {
			return t
		}
	}
	return hash.None
}

// CreateRepo makes the folders of a new repository. It is idempotent.
// data/ prefix folders are left to the first upload: on bucket-style remotes
// folders do not exist, and on pCloud 256 folder creations would cost 256
// API calls for nothing.
func (s *Store) CreateRepo(ctx context.Context, repo string) error {
	if err := (Handle{Repo: repo, Type: Config}).Validate(); err != nil {
		return err
	}
	for _, t := range Types[1:] {
		dir := typeDir(repo, t)
		if err := s.remote("mkdir", func() error { return s.f.Mkdir(ctx, dir) }); err != nil {
			return &RemoteError{Op: fmt.Sprintf("create repository folder %q", dir), Err: err}
		}
	}
	return nil
}

// Object is an object found by Lookup.
type Object struct {
	s    *Store
	h    Handle
	size int64
	obj  fs.Object // as the remote listed it; nil for an overlay record
	rec  *record   // the overlay's record of a recent write
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
	var rc io.ReadCloser
	var err error
	if o.rec == nil {
		rc, err = o.s.openSmall(ctx, o, offset, length)
	} else {
		rc, err = o.s.openRecent(ctx, o.h, o.rec, offset, length)
	}
	if err != nil && o.s.deleted(o.h.remotePath()) {
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
	key := o.h.remotePath()
	if !s.content.fits(o.size) {
		return s.open(ctx, o.h, o.obj, offset, length)
	}
	if b, ok := s.content.get(key); ok && int64(len(b)) == o.size {
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
	if !s.deleted(key) {
		s.content.add(key, b)
	}
	return io.NopCloser(bytes.NewReader(b[offset : offset+length])), nil
}

// deleted reports whether the overlay holds a tombstone for key.
func (s *Store) deleted(key string) bool {
	r := s.ov.get(key)
	return r != nil && r.kind == tombstone
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
	err := s.remote("get", func() (err error) {
		rc, err = obj.Open(ctx, rangeOptions(offset, length)...)
		return err
	})
	if err != nil {
		return nil, remoteErr(fmt.Sprintf("open %s", h), err)
	}
	return rc, nil
}

// openRecent reads an object written through us that the remote may not
// show yet: from the content cache, then through the upload's own handle,
// then by asking the remote again with backoff. It never answers not-found
// for an object we wrote and did not delete.
func (s *Store) openRecent(ctx context.Context, h Handle, rec *record, offset, length int64) (io.ReadCloser, error) {
	key := h.remotePath()
	if b, ok := s.content.get(key); ok && int64(len(b)) == rec.size {
		return io.NopCloser(bytes.NewReader(b[offset : offset+length])), nil
	}
	if rec.obj != nil {
		rc, err := s.open(ctx, h, rec.obj, offset, length)
		if err == nil {
			return rc, nil
		}
		s.log.Debug("reading a recent upload through its handle failed; asking the remote again", "object", h, "err", err)
	}
	deadline := time.Now().Add(s.opt.ReadRetry)
	wait := 100 * time.Millisecond
	var lastErr error
	for attempt := 0; ; attempt++ {
		var obj fs.Object
		err := s.remote("stat", func() (err error) {
			obj, err = s.f.NewObject(ctx, key)
			return err
		})
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
		if time.Now().Add(wait).After(deadline) || IsPermanent(err) || s.deleted(key) {
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
	o, err := s.lookup(ctx, h)
	if err == nil && o.rec != nil && o.rec.pending() {
		s.event(EventReadFromOverlay, 1)
	}
	return o, err
}

func (s *Store) lookup(ctx context.Context, h Handle) (*Object, error) {
	key := h.remotePath()
	if rec := s.ov.get(key); rec != nil {
		if rec.kind == tombstone {
			return nil, fmt.Errorf("look up %s: %w", h, ErrNotFound)
		}
		return &Object{s: s, h: h, size: rec.size, rec: rec}, nil
	}
	if obj := s.handles.get(key); obj != nil {
		return &Object{s: s, h: h, size: obj.Size(), obj: obj}, nil
	}
	start := time.Now()
	var obj fs.Object
	err := s.remote("stat", func() (err error) {
		obj, err = s.f.NewObject(ctx, key)
		return err
	})
	if err != nil {
		return nil, remoteErr(fmt.Sprintf("look up %s", h), err)
	}
	s.handles.add(key, obj, start)
	return &Object{s: s, h: h, size: obj.Size(), obj: obj}, nil
}

// exists reports whether h exists, the overlay first.
func (s *Store) exists(ctx context.Context, h Handle) (bool, error) {
	_, err := s.lookup(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

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
// and the overlay journaled it. A body that is shorter or longer than size,
// or whose digest differs from opt.SHA256, stores nothing.
func (s *Store) Put(ctx context.Context, h Handle, body io.Reader, size int64, opt PutOptions) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: unknown size", ErrSizeMismatch)
	}
	key := h.remotePath()
	unlock := s.locks.lock(key)
	defer unlock()

	if opt.NoOverwrite {
		found, err := s.exists(ctx, h)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("put %s: %w", h, ErrExists)
		}
	}

	vr, err := newVerifyReader(body, size, opt.SHA256, s.verify)
	if err != nil {
		return err
	}
	var kept *bytes.Buffer // a small body, kept to serve reads while the remote lags
	var obj fs.Object
	if s.content.fits(size) {
		// Read (and verify) a small body whole first: then a transient
		// remote failure is retried here, instead of making restic print
		// "returned error, retrying" (pCloud's upload is not retried by
		// rclone).
		kept = bytes.NewBuffer(make([]byte, 0, size))
		if _, err := io.Copy(kept, vr); err != nil {
			return fmt.Errorf("upload %s: %w", h, err)
		}
		obj, err = s.putSmall(ctx, key, kept.Bytes())
	} else {
		obj, err = s.putStream(ctx, key, vr, size)
		if vr.err != nil {
			// The body was bad: the backend saw a read error and stored nothing.
			if obj != nil {
				s.removeQuietly(ctx, obj)
			}
			return fmt.Errorf("upload %s: %w", h, vr.err)
		}
	}
	if err != nil {
		return remoteErr(fmt.Sprintf("upload %s", h), err)
	}
	if err := s.confirm(ctx, obj, size, vr); err != nil {
		s.removeQuietly(ctx, obj)
		return &RemoteError{Op: fmt.Sprintf("upload %s", h), Err: err}
	}

	now := time.Now()
	if s.journal != nil {
		// The remote has the object; without the journal entry a restart
		// could not keep it visible, so the client is not told it is saved
		// and will retry.
		jr := journalRecord{Kind: "c", Size: size, At: now}
		if kept != nil && size <= journalDataMax {
			jr.Data = kept.Bytes()
		}
		if err := s.journal.put(key, jr); err != nil {
			return fmt.Errorf("upload %s: %w", h, err)
		}
	}
	dir, name, _ := splitKey(key)
	s.ov.set(&record{kind: created, key: key, dir: dir, name: name, size: size, obj: obj, at: now})
	s.handles.remove(key) // the record holds the new handle
	if kept != nil {
		s.content.add(key, kept.Bytes())
	} else {
		s.content.remove(key)
	}
	return nil
}

func (s *Store) putStream(ctx context.Context, key string, in io.Reader, size int64) (obj fs.Object, err error) {
	info := object.NewStaticObjectInfo(key, time.Now(), size, true, nil, s.f)
	err = s.remote("put", func() (err error) {
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
		if err == nil || attempt == putRetries || isNotFound(err) || Classify(err) != KindTransient {
			return obj, err
		}
		s.obs.Retry("put")
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
	if s.verify == hash.None {
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
	err := s.remote("delete", func() error { return obj.Remove(ctx) })
	if err != nil && !isNotFound(err) {
		s.log.Warn("could not remove a rejected upload", "object", obj.Remote(), "err", err)
	}
}

// Remove deletes an object. Removing an object that does not exist
// succeeds. The delete sticks even when the remote cannot remove the
// object yet: a journaled tombstone hides it, and the reaper retries the
// removal until the remote confirms it.
func (s *Store) Remove(ctx context.Context, h Handle) error {
	if err := h.Validate(); err != nil {
		return err
	}
	key := h.remotePath()
	unlock := s.locks.lock(key)
	defer unlock()

	prev := s.ov.get(key)
	if prev != nil && prev.kind == tombstone {
		return nil // deleted already; the reaper owns what is left to do
	}
	now := time.Now()
	dir, name, _ := splitKey(key)
	ts := &record{kind: tombstone, key: key, dir: dir, name: name, at: now, reap: true}
	// Journal first: a crash between the remote removal and the record
	// must not let a lagging listing bring the object back.
	if s.journal != nil {
		if err := s.journal.put(key, journalRecord{Kind: "t", At: now, Reap: true}); err != nil {
			return fmt.Errorf("delete %s: %w", h, err)
		}
	}
	// Known to exist: we wrote it, or the remote listed or showed it.
	obj := s.handles.get(key)
	known := prev != nil || obj != nil
	if prev != nil {
		obj = prev.obj
	}
	s.handles.remove(key)
	var err error
	if obj == nil {
		err = s.remote("stat", func() (err error) {
			obj, err = s.f.NewObject(ctx, key)
			return err
		})
	}
	if err == nil {
		known = true
		err = s.remote("delete", func() error { return obj.Remove(ctx) })
	}
	switch {
	case err == nil:
		ts.reap, ts.removedAt = false, time.Now()
	case !isNotFound(err) && Classify(err) != KindTransient:
		// The remote refuses for good (permission, a permanent error):
		// retrying cannot heal it, so the client is told instead of
		// getting a 200 for a delete that will never happen.
		s.journalRestore(key, prev)
		return remoteErr(fmt.Sprintf("delete %s", h), err)
	case isNotFound(err) && !known:
		// Nothing we know of: the tombstone only masks a lagging listing,
		// and turns into a reap if a listing shows the object after all.
		ts.reap = false
	default:
		// The remote could not remove an object we know exists (it still
		// hides a fresh upload, or failed): absorb the delete, reap later.
		s.event(EventDeleteAbsorbed, 1)
		s.log.Info("delete absorbed: the remote could not remove the object yet; the reaper will retry",
			"object", h, "err", err)
	}
	s.ov.set(ts)
	s.content.remove(key)
	if s.journal != nil && !ts.reap {
		if err := s.journal.put(key, journalRecord{Kind: "t", At: now, Rm: ts.removedAt}); err != nil {
			// The record on disk still says reap: after a restart the
			// reaper finds the object gone and the tombstone retires at
			// the settle window, still hiding it until then.
			s.log.Warn("could not update the journal", "object", h, "err", err)
		}
	}
	return nil
}

// Entry is one listed object.
type Entry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// List returns the objects of type t in repo, sorted by name: the remote's
// listing plus recent creates minus recent deletes. A missing folder is an
// empty list; a remote error is an error, never an empty list.
func (s *Store) List(ctx context.Context, repo string, t Type) ([]Entry, error) {
	if t == Config {
		return nil, fmt.Errorf("%w: config is not a folder", ErrInvalid)
	}
	if err := (Handle{Repo: repo, Type: t, Name: strings.Repeat("0", 64)}).Validate(); err != nil {
		return nil, err
	}
	return s.list(ctx, typeDir(repo, t), t == Data)
}

// listing is one remote listing and when it started.
type listing struct {
	entries []Entry
	start   time.Time
}

func (s *Store) list(ctx context.Context, dir string, nested bool) ([]Entry, error) {
	out, _, err := s.listCounted(ctx, dir, nested, false)
	return out, err
}

// listCacheTTL is how long a client's listing reuses the last remote
// listing of a folder. The overlay keeps that correct: every write and
// delete through this instance since the listing is a record, and a
// record outlives its confirmation (retireGrace) by more than this, while
// the listing that confirms it replaces the cached one. Only writers that
// bypass steadyrest go unseen for this long, as the contract allows. On a
// far cloud it saves most of restic's listings (locks, keys, snapshots at
// every command's start).
const listCacheTTL = 30 * time.Second

// listCounted is list, also telling how many records the listing
// confirmed. fresh skips the cached listing (the confirmer needs the
// remote's current view).
func (s *Store) listCounted(ctx context.Context, dir string, nested, fresh bool) ([]Entry, int, error) {
	if !fresh {
		s.listMu.Lock()
		l, ok := s.listCache[dir]
		s.listMu.Unlock()
		if ok && time.Since(l.start) < listCacheTTL {
			out, confirmed := s.merge(dir, l)
			return out, confirmed, nil
		}
	}
	// Concurrent listings of one folder share one remote call; each caller
	// applies the overlay after it returns, so a write acknowledged while
	// the call was in flight still shows.
	v, err, _ := s.lists.Do(dir, func() (any, error) {
		start := time.Now()
		entries, err := s.listRemote(context.WithoutCancel(ctx), dir, nested)
		l := listing{entries: entries, start: start}
		if err == nil {
			s.listMu.Lock()
			if cur, ok := s.listCache[dir]; !ok || cur.start.Before(start) {
				s.listCache[dir] = l
			}
			s.listMu.Unlock()
		}
		return l, err
	})
	if err != nil {
		return nil, 0, err
	}
	out, confirmed := s.merge(dir, v.(listing))
	return out, confirmed, nil
}

func (s *Store) listRemote(ctx context.Context, dir string, nested bool) ([]Entry, error) {
	start := time.Now()
	depth := 1
	if nested {
		depth = 2
	}
	entries := []Entry{}
	var objs []fs.Object
	err := s.remote("list", func() error {
		return walk.ListR(ctx, s.f, dir, true, depth, walk.ListObjects, func(des fs.DirEntries) error {
			for _, de := range des {
				o, ok := de.(fs.Object)
				if !ok {
					continue
				}
				name := o.Remote()[strings.LastIndexByte(o.Remote(), '/')+1:]
				if !IsHexID(name) {
					continue // not a restic object (a partial upload, a stray file)
				}
				entries = append(entries, Entry{Name: name, Size: o.Size()})
				objs = append(objs, o)
			}
			return nil
		})
	})
	if errors.Is(err, fs.ErrorDirNotFound) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, &RemoteError{Op: fmt.Sprintf("list %s", dir), Err: err}
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	// Keep the handles of a folder of ordinary size: restic reads or
	// deletes what it just listed. A huge data/ listing would pin tens of
	// MiB of handles for a minute to save a lookup per pack in a prune.
	if len(objs) <= maxListedHandles {
		for _, o := range objs {
			s.handles.add(o.Remote(), o, start)
		}
	}
	return entries, nil
}

// merge applies the overlay to a remote listing of dir, and retires the
// records the listing confirms. It returns a new, sorted slice.
func (s *Store) merge(dir string, l listing) ([]Entry, int) {
	var retired []retiredRec    // journal entries to drop
	var flipped []string        // tombstones that turned into reaps
	var lags []time.Duration    // create lags confirmed
	var delLags []time.Duration // delete lags confirmed
	var masked, added, confirmedN int

	s.ov.mu.Lock()
	names := s.ov.byDir[dir]
	// l.entries is sorted: keep its order and merge in the few additions,
	// instead of sorting the whole result again.
	kept := make([]Entry, 0, len(l.entries)+len(names))
	var adds []Entry
	// Records the listing shows are stamped with this merge's generation:
	// cheaper than a set of seen names when a folder holds 100,000.
	s.ov.gen++
	gen := s.ov.gen
	for _, e := range l.entries {
		r := names[e.Name]
		if r == nil {
			kept = append(kept, e)
			continue
		}
		r.seen = gen
		switch r.kind {
		case tombstone:
			masked++
			// The listing saw what we deleted (delete lag): its handle
			// must not outlive the tombstone and bring the object back.
			s.handles.remove(r.key)
			if r.pending() && !r.reap && r.removedAt.IsZero() && l.start.After(r.at) {
				// A delete of an object we did not know of, and the remote
				// shows it after all: remove it for real.
				r.reap = true
				flipped = append(flipped, r.key)
			}
		case created:
			kept = append(kept, Entry{Name: e.Name, Size: r.size})
			if r.pending() && e.Size == r.size && l.start.After(r.at) {
				lags = append(lags, time.Since(r.at))
				s.confirmLocked(r, &retired)
				confirmedN++
			}
		}
	}
	for name, r := range names {
		if r.seen == gen {
			continue
		}
		switch {
		case r.kind == created:
			adds = append(adds, Entry{Name: name, Size: r.size})
			added++
		case !r.pending():
			// Confirmed already; kept only to correct older listings.
		case r.reap:
			// Absence proves nothing: a fresh upload the remote refused to
			// remove may still be hidden by its create lag.
		case !r.removedAt.IsZero() && l.start.After(r.removedAt):
			delLags = append(delLags, time.Since(r.removedAt))
			s.confirmLocked(r, &retired)
			confirmedN++
		case r.removedAt.IsZero() && l.start.After(r.at):
			s.confirmLocked(r, &retired)
			confirmedN++
		}
	}
	s.ov.mu.Unlock()

	out := mergeSorted(kept, adds)
	s.event(EventMaskedStale, masked)
	s.event(EventAddedMissing, added)
	s.event(EventRetiredConfirmed, confirmedN)
	for _, d := range lags {
		s.obs.Visible("create", d)
	}
	for _, d := range delLags {
		s.obs.Visible("delete", d)
	}
	s.journalDrop(retired)
	for _, key := range flipped {
		s.journalTombstone(key)
	}
	return out, confirmedN
}

// mergeSorted merges adds into the sorted slice kept, sorting adds first.
// It may reuse kept's array.
func mergeSorted(kept, adds []Entry) []Entry {
	if len(adds) == 0 {
		return kept
	}
	byName := func(a, b Entry) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(adds, byName)
	out := make([]Entry, 0, len(kept)+len(adds))
	i, j := 0, 0
	for i < len(kept) && j < len(adds) {
		if kept[i].Name < adds[j].Name {
			out = append(out, kept[i])
			i++
		} else {
			out = append(out, adds[j])
			j++
		}
	}
	out = append(out, kept[i:]...)
	return append(out, adds[j:]...)
}

// retiredRec names a retired record's journal entry: the key, and the time
// that identifies this record (a newer record under the same key stays).
type retiredRec struct {
	key string
	at  time.Time
}

// confirmLocked marks r confirmed by the remote (caller holds s.ov.mu) and
// notes its journal entry, which is no longer needed: a restart forgets a
// confirmed record safely. The record itself stays for retireGrace.
func (s *Store) confirmLocked(r *record, retired *[]retiredRec) {
	r.confirmed.Store(time.Now().UnixNano())
	*retired = append(*retired, retiredRec{key: r.key, at: r.at})
}

// journalDrop removes retired records from the journal in one transaction,
// in the background: a retirement need not be durable (a stale entry
// reloaded after a restart is confirmed again), and a listing that
// confirms thousands of records must not wait for the disk.
func (s *Store) journalDrop(retired []retiredRec) {
	if s.journal == nil || len(retired) == 0 {
		return
	}
	s.drops.Add(1)
	go func() {
		defer s.drops.Done()
		if err := s.journal.dropRetired(retired); err != nil {
			s.log.Warn("could not drop retired records from the journal", "records", len(retired), "err", err)
		}
	}()
}

// journalRestore puts back the journal entry a refused delete overwrote:
// prev's, or none.
func (s *Store) journalRestore(key string, prev *record) {
	if s.journal == nil {
		return
	}
	var err error
	if prev != nil {
		err = s.journal.put(key, journalRecord{Kind: "c", Size: prev.size, At: prev.at})
	} else {
		err = s.journal.delete(key)
	}
	if err != nil {
		s.log.Warn("could not restore a journal record", "key", key, "err", err)
	}
}

// journalTombstone rewrites the journal entry of a tombstone from memory.
func (s *Store) journalTombstone(key string) {
	if s.journal == nil {
		return
	}
	s.ov.mu.RLock()
	r := s.ov.byKey[key]
	var jr journalRecord
	if r != nil {
		jr = journalRecord{Kind: "t", At: r.at, Reap: r.reap, Rm: r.removedAt}
	}
	s.ov.mu.RUnlock()
	if r == nil {
		return
	}
	if err := s.journal.put(key, jr); err != nil {
		s.log.Warn("could not update the journal", "key", key, "err", err)
	}
}

func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrorObjectNotFound) || errors.Is(err, fs.ErrorDirNotFound) ||
		errors.Is(err, fs.ErrorIsDir)
}

// RemoteError is a failure of the remote (as opposed to a bad request).
type RemoteError struct {
	Op  string
	Err error
}

func (e *RemoteError) Error() string {
	if k := e.Kind(); k != KindTransient {
		return e.Op + ": remote " + k.String() + ": " + e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}
func (e *RemoteError) Unwrap() error { return e.Err }

// remoteErr maps rclone's not-found errors to ErrNotFound and wraps the rest.
func remoteErr(op string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return &RemoteError{Op: op, Err: err}
}

type nopObserver struct{}

func (nopObserver) RemoteOp(string, time.Duration, error) {}
func (nopObserver) Event(string)                          {}
func (nopObserver) Visible(string, time.Duration)         {}
func (nopObserver) Retry(string)                          {}

// keyedMutex orders operations on one object name: a POST and a DELETE of
// the same object never interleave.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
