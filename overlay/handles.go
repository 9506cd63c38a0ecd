package overlay

import (
	"context"
	"io"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
)

// handleTTL is how long an object handle from a listing or lookup is
// reused. restic lists a folder and then reads or deletes what it found
// (forget, prune, lock checks) within seconds; reusing the handles saves a
// remote lookup per object, which on a far cloud is most of the time.
const handleTTL = time.Minute

// deleteHandleTTL is how old a handle a delete still uses. A handle of an
// object that went meanwhile only makes the remote answer not-found,
// which a delete absorbs (the reaper looks again); while without it every
// delete of a prune, which starts from one listing of data/ and can run
// for many minutes, would cost a lookup first.
const deleteHandleTTL = 10 * time.Minute

// maxHandles bounds the handles kept, and maxListedHandles is the largest
// listing whose handles are kept: a prune deletes what its listing of
// data/ showed, as rclone serve restic keeps its listed objects for
// (--cache-objects). A handle is a few hundred bytes.
const (
	maxHandles       = 150_000
	maxListedHandles = 150_000
)

// handleCache remembers recent fs.Object handles by remote path. It is
// presence knowledge from the remote, not from us: the overlay's records
// always win over it, and a write or delete through us replaces or drops
// the handle.
type handleCache struct {
	lru *lru.Cache[string, handle]
}

type handle struct {
	obj fs.Object
	at  time.Time
}

func newHandleCache() *handleCache {
	c, _ := lru.New[string, handle](maxHandles) // plain LRU: no goroutine to stop
	return &handleCache{lru: c}
}

func (c *handleCache) add(key string, obj fs.Object, at time.Time) {
	c.lru.Add(key, handle{obj: share(obj), at: at})
}

// get returns a handle younger than handleTTL.
func (c *handleCache) get(key string) fs.Object { return c.within(key, handleTTL) }

// forDelete returns a handle younger than deleteHandleTTL.
func (c *handleCache) forDelete(key string) fs.Object { return c.within(key, deleteHandleTTL) }

func (c *handleCache) within(key string, ttl time.Duration) fs.Object {
	h, ok := c.lru.Get(key)
	if !ok {
		return nil
	}
	switch age := time.Since(h.at); {
	case age > deleteHandleTTL:
		c.lru.Remove(key)
		return nil
	case age > ttl:
		return nil
	}
	return h.obj
}

func (c *handleCache) remove(key string) { c.lru.Remove(key) }

// sharedHandle is an fs.Object that requests share: a cached handle, or
// the handle a record keeps of its upload. Some backends change a handle's
// state unlocked (rclone's pcloud Object caches its download link in Open,
// and fills its size and hashes in Hash), so the calls on a shared handle
// are made one at a time. Reading an opened body is not: only the calls
// are.
type sharedHandle struct {
	mu  sync.Mutex
	obj fs.Object
}

// share returns o as a handle requests may share.
func share(o fs.Object) fs.Object {
	if o == nil {
		return nil
	}
	if _, ok := o.(*sharedHandle); ok {
		return o
	}
	return &sharedHandle{obj: o}
}

func (h *sharedHandle) String() string    { return h.obj.String() }
func (h *sharedHandle) Remote() string    { return h.obj.Remote() }
func (h *sharedHandle) Fs() fs.Info       { return h.obj.Fs() }
func (h *sharedHandle) Storable() bool    { return h.obj.Storable() }
func (h *sharedHandle) UnWrap() fs.Object { return h.obj }

func (h *sharedHandle) Size() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.obj.Size()
}

func (h *sharedHandle) ModTime(ctx context.Context) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.obj.ModTime(ctx)
}

func (h *sharedHandle) Hash(ctx context.Context, t hash.Type) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.obj.Hash(ctx, t)
}

func (h *sharedHandle) SetModTime(ctx context.Context, t time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.obj.SetModTime(ctx, t)
}

func (h *sharedHandle) Open(ctx context.Context, options ...fs.OpenOption) (io.ReadCloser, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.obj.Open(ctx, options...)
}

func (h *sharedHandle) Update(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.obj.Update(ctx, in, src, options...)
}

func (h *sharedHandle) Remove(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.obj.Remove(ctx)
}
