package cache

import (
	"context"
	"slices"
	"strings"
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
		cs = append(cs, change{op: chExpire, rec: r, at: now})
	}
	for _, r := range w.retire {
		cs = append(cs, change{op: chRetire, rec: r, at: now})
	}
	if _, err := s.apply(ctx, cs); err != nil {
		s.log.Warn("overlay: could not retire records", "err", err)
	}
	s.dropStaleListings(now)
	for _, r := range w.reaps {
		if ctx.Err() != nil {
			return
		}
		s.reap(ctx, r)
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

// reap retries a removal the remote refused, with backoff.
func (s *Store) reap(ctx context.Context, r record) {
	unlock, err := s.ov.lock(ctx, r.key)
	if err != nil {
		return
	}
	defer unlock()
	if cur, ok, err := s.ov.get(ctx, r.key); err != nil || !ok || !r.unchanged(cur) {
		return // written again or retired meanwhile
	}
	obj, err := s.stat(ctx, r.key)
	if err == nil {
		err = s.remote(OpDelete, func() error { return obj.Remove(ctx) })
	}
	c := change{op: chReaped, rec: r, at: time.Now()}
	if err != nil {
		tries := r.reapTries + 1
		c.op, c.at = chReapFailed, c.at.Add(min(time.Second<<min(tries, 6), time.Minute))
		if !isNotFound(err) {
			s.log.Warn("reaper could not remove an object yet", "object", r.key, "tries", tries, "err", err)
		}
	}
	if _, err := s.apply(ctx, []change{c}); err != nil {
		s.log.Warn("overlay: could not record a reap", "object", r.key, "err", err)
	}
}

// confirmDue lists the folders that hold records a listing can confirm, so
// that records retire by the remote's confirmation even where restic does
// not list (data/ between prunes). A folder's interval doubles, up to a
// minute, while its listings confirm nothing (the remote lags), and drops
// back to a floor that grows with the folder's size when they do: a busy
// locks/ folder is listed every 2 s, so tombstones do not pile up under
// load, while a long backup does not make us list a large data/ folder
// every few seconds.
func (s *Store) confirmDue(ctx context.Context, now time.Time, w work) {
	dirs := slices.Clone(w.dirs)
	for _, r := range w.configs {
		dirs = append(dirs, r.key) // paced like a folder
	}

	s.confirmMu.Lock()
	active := make(map[string]bool, len(dirs))
	var due []string
	for _, dir := range dirs {
		active[dir] = true
		st := s.pace[dir]
		if st == nil {
			st = &confirmState{}
			s.pace[dir] = st
		}
		if now.Before(st.next) {
			continue
		}
		st.interval = min(max(2*st.interval, confirmFloor(0)), time.Minute)
		st.next = now.Add(st.interval)
		due = append(due, dir)
	}
	for dir := range s.pace {
		if !active[dir] {
			delete(s.pace, dir) // nothing left to confirm: start over next time
		}
	}
	s.confirmMu.Unlock()

	isDue := make(map[string]bool, len(due))
	for _, d := range due {
		isDue[d] = true
	}
	for _, r := range w.configs {
		if isDue[r.key] && ctx.Err() == nil {
			s.confirmByLookup(ctx, r)
			delete(isDue, r.key)
		}
	}
	for _, dir := range due {
		if ctx.Err() != nil {
			return
		}
		if !isDue[dir] {
			continue // a config record, done above
		}
		entries, confirmed, err := s.listFresh(ctx, dir)
		if err != nil {
			s.log.Debug("confirming listing failed", "dir", dir, "err", err)
			continue
		}
		if confirmed > 0 {
			s.confirmMu.Lock()
			if st := s.pace[dir]; st != nil {
				st.interval = confirmFloor(len(entries))
				st.next = time.Now().Add(st.interval)
			}
			s.confirmMu.Unlock()
		}
	}
}

// confirmByLookup confirms a record that no listing shows (a repository's
// config) by looking it up, with the rule listings use.
func (s *Store) confirmByLookup(ctx context.Context, r record) {
	start := time.Now()
	obj, err := s.stat(ctx, r.key)
	if err != nil && !isNotFound(err) {
		s.log.Debug("confirming lookup failed", "object", r.key, "err", err)
		return
	}
	var size int64
	if err == nil {
		size = obj.Size()
	}
	if c, ok := judge(&r, err == nil, size, start); ok {
		if _, err := s.apply(ctx, []change{c}); err != nil {
			s.log.Warn("overlay: could not record a confirmation", "object", r.key, "err", err)
		}
	}
}

// confirmFloor is the shortest interval between confirming listings of a
// folder of n objects: 2 s, plus 2 s per thousand objects, up to a minute.
func confirmFloor(n int) time.Duration {
	return min(2*time.Second*time.Duration(1+n/1000), time.Minute)
}

// confirmState paces the confirmer's listings of one folder.
type confirmState struct {
	next     time.Time
	interval time.Duration
}

func isDataDir(dir string) bool {
	return dir == string(Data) || strings.HasSuffix(dir, "/"+string(Data))
}
