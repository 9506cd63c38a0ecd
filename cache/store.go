package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
	"github.com/rclone/rclone/fs/object"
	"github.com/rclone/rclone/fs/walk"
	"golang.org/x/sync/singleflight"
)

// Options configure a Store.
type Options struct {
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Store presents the repositories below one rclone remote path to the
// protocol layer. It is safe for concurrent use.
type Store struct {
	f      fs.Fs
	log    *slog.Logger
	verify hash.Type // the remote's hash used to confirm uploads, or hash.None

	lists singleflight.Group
	locks keyedMutex
}

// New returns a Store over f.
func New(f fs.Fs, opt Options) (*Store, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Store{f: f, log: log, verify: confirmHash(f.Hashes())}, nil
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

// Close releases the store's resources.
func (s *Store) Close() error { return nil }

// Fs returns the remote the store writes to.
func (s *Store) Fs() fs.Fs { return s.f }

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
		if err := s.f.Mkdir(ctx, dir); err != nil {
			return fmt.Errorf("create repository folder %q: %w", dir, err)
		}
	}
	return nil
}

// Object is an object found by Lookup.
type Object struct {
	h   Handle
	obj fs.Object
}

// Size is the object's length in bytes.
func (o *Object) Size() int64 { return o.obj.Size() }

// Open reads length bytes from offset; length < 0 reads to the end.
func (o *Object) Open(ctx context.Context, offset, length int64) (io.ReadCloser, error) {
	var opts []fs.OpenOption
	if offset > 0 || length >= 0 {
		end := int64(-1)
		if length >= 0 {
			end = offset + length - 1
		}
		opts = append(opts, &fs.RangeOption{Start: offset, End: end})
	}
	rc, err := o.obj.Open(ctx, opts...)
	if err != nil {
		return nil, remoteErr(fmt.Sprintf("open %s", o.h), err)
	}
	return rc, nil
}

// Lookup finds an object; ErrNotFound when it does not exist.
func (s *Store) Lookup(ctx context.Context, h Handle) (*Object, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	obj, err := s.f.NewObject(ctx, h.remotePath())
	if err != nil {
		return nil, remoteErr(fmt.Sprintf("look up %s", h), err)
	}
	return &Object{h: h, obj: obj}, nil
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
// remote confirmed the write (size, and hash where the remote keeps one).
// A body that is shorter or longer than size, or whose digest differs from
// opt.SHA256, stores nothing.
func (s *Store) Put(ctx context.Context, h Handle, body io.Reader, size int64, opt PutOptions) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: unknown size", ErrSizeMismatch)
	}
	unlock := s.locks.lock(h.remotePath())
	defer unlock()

	if opt.NoOverwrite {
		_, err := s.f.NewObject(ctx, h.remotePath())
		if err == nil {
			return fmt.Errorf("put %s: %w", h, ErrExists)
		}
		if !isNotFound(err) {
			return remoteErr(fmt.Sprintf("look up %s", h), err)
		}
	}

	vr, err := newVerifyReader(body, size, opt.SHA256, s.verify)
	if err != nil {
		return err
	}
	info := object.NewStaticObjectInfo(h.remotePath(), time.Now(), size, true, nil, s.f)
	obj, err := s.f.Put(ctx, vr, info, &fs.HashesOption{Hashes: hash.NewHashSet(s.verify)})
	if vr.err != nil {
		// The body was bad: the backend saw a read error and stored nothing.
		if obj != nil {
			s.removeQuietly(ctx, obj)
		}
		return vr.err
	}
	if err != nil {
		return remoteErr(fmt.Sprintf("upload %s", h), err)
	}
	if err := s.confirm(ctx, obj, size, vr); err != nil {
		s.removeQuietly(ctx, obj)
		return fmt.Errorf("upload %s: %w", h, err)
	}
	return nil
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
	if err := obj.Remove(ctx); err != nil && !isNotFound(err) {
		s.log.Warn("could not remove rejected upload", "object", obj.Remote(), "err", err)
	}
}

// Remove deletes an object. Removing an object that does not exist succeeds.
func (s *Store) Remove(ctx context.Context, h Handle) error {
	if err := h.Validate(); err != nil {
		return err
	}
	unlock := s.locks.lock(h.remotePath())
	defer unlock()
	obj, err := s.f.NewObject(ctx, h.remotePath())
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return remoteErr(fmt.Sprintf("look up %s", h), err)
	}
	if err := obj.Remove(ctx); err != nil && !isNotFound(err) {
		return remoteErr(fmt.Sprintf("delete %s", h), err)
	}
	return nil
}

// Entry is one listed object.
type Entry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// List returns the objects of type t in repo, sorted by name. A missing
// folder is an empty list; a remote error is an error, never an empty list.
func (s *Store) List(ctx context.Context, repo string, t Type) ([]Entry, error) {
	if t == Config {
		return nil, fmt.Errorf("%w: config is not a folder", ErrInvalid)
	}
	if err := (Handle{Repo: repo, Type: Config}).Validate(); err != nil {
		return nil, err
	}
	dir := typeDir(repo, t)
	// Concurrent listings of one folder share one remote call. The result is
	// shared read-only; callers get their own copy.
	v, err, _ := s.lists.Do(dir, func() (any, error) {
		return s.listRemote(context.WithoutCancel(ctx), dir, t)
	})
	if err != nil {
		return nil, err
	}
	shared := v.([]Entry)
	out := make([]Entry, len(shared))
	copy(out, shared)
	return out, nil
}

func (s *Store) listRemote(ctx context.Context, dir string, t Type) ([]Entry, error) {
	depth := 1
	if t == Data {
		depth = 2
	}
	entries := []Entry{}
	err := walk.ListR(ctx, s.f, dir, true, depth, walk.ListObjects, func(des fs.DirEntries) error {
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
		}
		return nil
	})
	if errors.Is(err, fs.ErrorDirNotFound) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, remoteErr(fmt.Sprintf("list %s", dir), err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, nil
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

func (e *RemoteError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *RemoteError) Unwrap() error { return e.Err }

// remoteErr maps rclone's not-found errors to ErrNotFound and wraps the rest.
func remoteErr(op string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return &RemoteError{Op: op, Err: err}
}

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
