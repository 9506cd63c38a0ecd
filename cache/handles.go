package cache

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/rclone/rclone/fs"
)

// handleTTL is how long an object handle from a listing or lookup is
// reused. restic lists a folder and then reads or deletes what it found
// (forget, prune, lock checks) within seconds; reusing the handles saves a
// remote lookup per object, which on a far cloud is most of the time.
const handleTTL = time.Minute

// maxHandles bounds the handles kept.
const maxHandles = 50_000

// maxListedHandles is the largest listing whose handles are kept.
const maxListedHandles = 10_000

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
	c.lru.Add(key, handle{obj: obj, at: at})
}

// get returns a handle younger than handleTTL.
func (c *handleCache) get(key string) fs.Object {
	h, ok := c.lru.Get(key)
	if !ok {
		return nil
	}
	if time.Since(h.at) > handleTTL {
		c.lru.Remove(key)
		return nil
	}
	return h.obj
}

func (c *handleCache) remove(key string) { c.lru.Remove(key) }
