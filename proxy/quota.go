package proxy

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/steadyrest/steadyrest/overlay"
)

// UsageCounter is the layer below's count of what it holds: the store's
// (overlay.Store.CountUsage), kept current by every upload and delete
// through it.
type UsageCounter interface {
	// Usage returns the count, ok false while there is none.
	Usage() (u overlay.Usage, ok bool)
}

// Quota is rest-server's --max-size: a bound on the bytes stored under
// the server's root, over all repositories. The store counts what is
// stored; the quota adds the uploads in flight, so that parallel uploads
// cannot pass the bound together. Writes that bypass this server are not
// seen until the store counts again (the next start).
type Quota struct {
	max    int64
	stored UsageCounter

	mu       sync.Mutex
	reserved int64 // bytes of the uploads in flight
}

// NewQuota returns a quota of max bytes over what stored counts. A quota
// below what is stored already is refused: every write would fail.
func NewQuota(max int64, stored UsageCounter) (*Quota, error) {
	if max <= 0 {
		return nil, fmt.Errorf("quota of %d bytes: want more than 0", max)
	}
	u, ok := stored.Usage()
	if !ok {
		return nil, fmt.Errorf("quota of %d bytes: the store has not counted what it holds", max)
	}
	if u.Bytes > max {
		return nil, fmt.Errorf("quota of %d bytes is below the %d bytes already stored", max, u.Bytes)
	}
	return &Quota{max: max, stored: stored}, nil
}

// Used returns the bytes counted as stored, the uploads in flight
// included.
func (q *Quota) Used() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.usedLocked()
}

func (q *Quota) usedLocked() int64 {
	u, _ := q.stored.Usage()
	return u.Bytes + q.reserved
}

// reserve takes n bytes for an upload, or reports that they would pass
// the quota. A nil quota takes everything. Until release, an upload the
// store counted already counts twice: the quota errs high, never low.
func (q *Quota) reserve(n int64) bool {
	if q == nil {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.usedLocked()+n > q.max {
		return false
	}
	q.reserved += n
	return true
}

// release gives back an upload's reservation once the store has counted
// it, or the upload failed.
func (q *Quota) release(n int64) {
	if q == nil {
		return
	}
	q.mu.Lock()
	q.reserved -= n
	q.mu.Unlock()
}

// quotaReserve answers 507 and returns false when the upload would pass
// the quota, as rest-server does; restic stops at once on 507.
func (s *Server) quotaReserve(rq *request) bool {
	if s.opt.Quota.reserve(rq.r.ContentLength) {
		return true
	}
	s.fail(rq, http.StatusInsufficientStorage, fmt.Errorf("upload of %d bytes would pass the %d byte quota (%d used)",
		rq.r.ContentLength, s.opt.Quota.max, s.opt.Quota.Used()))
	return false
}
