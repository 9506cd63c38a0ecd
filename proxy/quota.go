package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/steadyrest/steadyrest/cache"
)

// Quota is rest-server's --max-size: a bound on the bytes stored under
// the server's root, over all repositories. The caller counts what the
// remote holds at start; uploads and deletes through this server keep the
// count current. Writes that bypass steadyrest are not seen until the
// next start.
type Quota struct {
	max  int64
	used atomic.Int64
}

// NewQuota returns a quota of max bytes of which used are taken. A quota
// below what is stored already is refused: every write would fail.
func NewQuota(max, used int64) (*Quota, error) {
	if max <= 0 {
		return nil, fmt.Errorf("quota of %d bytes: want more than 0", max)
	}
	if used > max {
		return nil, fmt.Errorf("quota of %d bytes is below the %d bytes already stored", max, used)
	}
	q := &Quota{max: max}
	q.used.Store(used)
	return q, nil
}

// Used returns the bytes counted as stored.
func (q *Quota) Used() int64 { return q.used.Load() }

// reserve takes n bytes for an upload, or reports that they would pass
// the quota. A nil quota takes everything.
func (q *Quota) reserve(n int64) bool {
	if q == nil {
		return true
	}
	for {
		u := q.used.Load()
		if u+n > q.max {
			return false
		}
		if q.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// release gives back n bytes: a failed upload's reservation, or a delete.
func (q *Quota) release(n int64) {
	if q != nil && n > 0 {
		q.used.Add(-n)
	}
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

// remove deletes h and, with a quota, gives back the bytes the delete
// removed. Deletes of one object take turns, and each gives back the size
// the object had just before it: of twenty parallel deletes only the
// first finds the object, the others give back nothing (and still answer
// 200, as a repeated DELETE does). A size the store cannot tell is not
// given back: the quota may count too much, never too little.
func (s *Server) remove(ctx context.Context, h cache.Handle) error {
	if s.opt.Quota == nil {
		return s.store.Remove(ctx, h)
	}
	unlock := s.deletes.Lock(h.String())
	defer unlock()
	var size int64
	if obj, err := s.store.Lookup(ctx, h); err == nil {
		size = max(obj.Size(), 0)
	}
	if err := s.store.Remove(ctx, h); err != nil {
		return err
	}
	s.opt.Quota.release(size)
	return nil
}
