package overlay

import (
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// contentCache keeps the bytes of recent small uploads (locks, keys, config,
// snapshots, small index files) so that a read can be served while the
// remote does not show the object yet. It is bounded in bytes and may evict
// anything: it holds content, never presence, which lives in the records.
type contentCache struct {
	mu       sync.Mutex
	lru      *lru.Cache[string, []byte]
	bytes    int64
	maxBytes int64
	maxItem  int64

	hits, misses atomic.Uint64
}

func newContentCache(maxBytes, maxItem int64) *contentCache {
	c := &contentCache{maxBytes: maxBytes, maxItem: maxItem}
	// The entry count bound is loose: the byte bound is the real one.
	c.lru, _ = lru.NewWithEvict[string, []byte](1<<20, func(_ string, v []byte) {
		c.bytes -= int64(len(v))
	})
	return c
}

// fits reports whether an object of size n is worth caching.
func (c *contentCache) fits(n int64) bool {
	return c.maxBytes > 0 && n <= c.maxItem && n <= c.maxBytes
}

func (c *contentCache) add(key string, v []byte) {
	if !c.fits(int64(len(v))) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key)
	c.lru.Add(key, v)
	c.bytes += int64(len(v))
	for c.bytes > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

func (c *contentCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	v, ok := c.lru.Get(key)
	c.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

func (c *contentCache) remove(key string) {
	c.mu.Lock()
	c.lru.Remove(key)
	c.mu.Unlock()
}

func (c *contentCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
