package overlay

import (
	"context"
	"time"
)

// tick is how often the background loop looks for work.
const tick = 500 * time.Millisecond

// background runs the reaper, the confirmer and the settle-window valve
// until Stop.
func (s *Store) background() {
	defer close(s.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.runDue(s.bgCtx, time.Now()) // Stop cancels bgCtx, cutting a round short
	}
}

// runDue does one round of background work: the settle-window valve, the
// reaper and the confirmer.
func (s *Store) runDue(ctx context.Context, now time.Time) {
	w, err := s.ov.due(ctx, now, s.opt.SettleWindow)
	if err != nil {
		s.log.Warn("overlay: could not read the background work", "err", err)
		return
	}
	var cs []change
	for _, r := range w.expire {
		cs = append(cs, change{op: chExpire, rec: *r, at: now})
	}
	for _, r := range w.retire {
		cs = append(cs, change{op: chRetire, rec: *r, at: now})
	}
	if _, err := s.apply(ctx, cs); err != nil {
		s.log.Warn("overlay: could not retire records", "err", err)
	}
	s.dropStaleListings(now)
	s.spool.expire(now)
	for _, r := range w.uploads {
		if ctx.Err() != nil {
			return
		}
		if r.uploadDue(now, s.opt.LockUploadDelay) {
			s.uploadDeferred(ctx, *r)
		}
	}
	for _, r := range w.reaps {
		if ctx.Err() != nil {
			return
		}
		s.reap(ctx, *r)
	}
	s.confirmDue(ctx, now, w)
}

// dropStaleListings forgets cached listings past listCacheTTL, so a large
// data/ listing does not stay in memory after its use.
func (s *Store) dropStaleListings(now time.Time) {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	for dir, l := range s.listCache {
		if now.Sub(l.start) >= listCacheTTL {
			delete(s.listCache, dir)
		}
	}
}

// lockUnchanged takes the lock of r's name for background work on r, and
// reports whether r is still the name's record (not written again,
// deleted, retired, or done by another instance meanwhile). unlock is nil
// when it is not.
func (s *Store) lockUnchanged(ctx context.Context, r record) (unlock func()) {
	unlock, err := s.ov.lock(ctx, r.key)
	if err != nil {
		return nil
	}
	if cur, ok, err := s.ov.get(ctx, r.key); err != nil || !ok || !r.unchanged(cur) {
		unlock()
		return nil
	}
	return unlock
}

// retryAt is when background work that failed tries times in a row is
// tried again: after 2 s, doubling, at most a minute.
func retryAt(now time.Time, tries int) time.Time {
	return now.Add(min(time.Second<<min(tries, 6), time.Minute))
}

// reap retries a removal the remote refused, with backoff.
func (s *Store) reap(ctx context.Context, r record) {
	unlock := s.lockUnchanged(ctx, r)
	if unlock == nil {
		return
	}
	defer unlock()
	if !s.mayRemove(r.key.path, removeForClient) {
		s.refuse(ctx, r)
		return
	}
	obj, err := s.stat(ctx, r.key.path)
	if err == nil {
		err = s.removeObject(ctx, obj, removeForClient)
	}
	c := change{op: chReaped, rec: r, at: time.Now()}
	if err != nil {
		tries := r.tries + 1
		c.op, c.at = chReapFailed, retryAt(c.at, tries)
		if isNotFound(err) {
			// The remote still hides a fresh upload: its lag, not a failure.
			s.log.Debug("reaper: the remote does not show the object yet", "object", r.key.path, "tries", tries)
		} else {
			s.objectEvent(EventReapFailed, r.key, err, time.Now())
			s.log.Warn("reaper could not remove an object yet", "object", r.key.path, "tries", tries, "err", err)
		}
	}
	if _, err := s.apply(ctx, []change{c}); err != nil {
		s.log.Warn("overlay: could not record a reap", "object", r.key.path, "err", err)
	}
}
