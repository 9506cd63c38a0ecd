package cache

import (
	"context"
	"path"
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
	s.spool.expire(now)
	for _, r := range w.uploads {
		if ctx.Err() != nil {
			return
		}
		if r.uploadDue(now, s.opt.LockUploadDelay) {
			s.uploadDeferred(ctx, r)
		}
	}
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
	if !s.mayRemove(r.key, removeForClient) {
		s.refuse(ctx, r)
		return
	}
	obj, err := s.stat(ctx, r.key)
	if err == nil {
		err = s.removeObject(ctx, obj, removeForClient)
	}
	c := change{op: chReaped, rec: r, at: time.Now()}
	if err != nil {
		tries := r.reapTries + 1
		c.op, c.at = chReapFailed, retryAt(c.at, tries)
		if isNotFound(err) {
			// The remote still hides a fresh upload: its lag, not a failure.
			s.log.Debug("reaper: the remote does not show the object yet", "object", r.key, "tries", tries)
		} else {
			s.objectEvent(EventReapFailed, r.key, err, time.Now())
			s.log.Warn("reaper could not remove an object yet", "object", r.key, "tries", tries, "err", err)
		}
	}
	if _, err := s.apply(ctx, []change{c}); err != nil {
		s.log.Warn("overlay: could not record a reap", "object", r.key, "err", err)
	}
}

// confirmDue confirms the records a client's listing has not confirmed
// yet, so that they retire even where restic does not list (data/ between
// prunes). locks/, keys/, snapshots/ and index/ are listed whole; a
// config is looked up; data records are confirmed per prefix folder
// (confirmData), so the cost follows what was written, not the size of
// data/. A unit's interval doubles, up to a minute, while its calls
// confirm nothing (the remote lags), and drops back to a floor that grows
// with the folder's size when they do: a busy locks/ folder is listed
// every 2 s, so tombstones do not pile up under load, while a long backup
// does not make us list a large folder every few seconds.
func (s *Store) confirmDue(ctx context.Context, now time.Time, w work) {
	// recs holds the records of the units confirmed record by record
	// (configs, data prefix folders); the other units are type folders.
	recs := map[string][]record{}
	for _, r := range w.configs {
		recs[r.key] = append(recs[r.key], r)
	}
	for _, r := range w.data {
		dir := path.Dir(r.key) // repo/data/xx
		recs[dir] = append(recs[dir], r)
	}
	units := slices.Clone(w.dirs)
	for u := range recs {
		units = append(units, u)
	}

	s.confirmMu.Lock()
	active := make(map[string]bool, len(units))
	var due []string
	for _, u := range units {
		active[u] = true
		st := s.pace[u]
		if st == nil {
			st = &confirmState{}
			s.pace[u] = st
		}
		if now.Before(st.next) {
			continue
		}
		st.interval = min(max(2*st.interval, confirmFloor(0)), time.Minute)
		st.next = now.Add(st.interval)
		due = append(due, u)
	}
	for u := range s.pace {
		if !active[u] {
			delete(s.pace, u) // nothing left to confirm: start over next time
		}
	}
	s.confirmMu.Unlock()

	for _, u := range due {
		if ctx.Err() != nil {
			return
		}
		var listed, confirmed int
		switch rs, ok := recs[u]; {
		case ok && rs[0].isConfig():
			confirmed = s.confirmByLookup(ctx, rs[0])
		case ok:
			listed, confirmed = s.confirmData(ctx, u, rs)
		default:
			entries, n, err := s.listFresh(ctx, u)
			if err != nil {
				s.log.Debug("confirming listing failed", "dir", u, "err", err)
				continue
			}
			listed, confirmed = len(entries), n
		}
		if confirmed > 0 {
			s.confirmMu.Lock()
			if st := s.pace[u]; st != nil {
				st.interval = confirmFloor(listed)
				st.next = time.Now().Add(st.interval)
			}
			s.confirmMu.Unlock()
		}
	}
}

// lookupCost is how many listed entries cost about as much as one call: a
// listing of 100 entries is a response of some 50 KB (WebDAV, pCloud),
// which on a far cloud takes about as long as a request.
const lookupCost = 100

// unknownFolderSize is the size assumed for a prefix folder never listed:
// large enough that a few new packs are looked up rather than listed
// along with everything their folder holds.
const unknownFolderSize = 1000

// lookupCheaper tells whether looking up k records by name costs less
// than one listing of their folder of n objects: k calls against one call
// and n entries. A listing confirms all k records at once; a lookup one.
func lookupCheaper(k, n int) bool {
	return k*lookupCost <= lookupCost+n
}

// confirmData confirms data records of one prefix folder (repo/data/xx)
// with the narrowest call that proves them: a lookup of each by name, or
// one listing of that folder (never of data/), as lookupCheaper picks
// from the folder's last known size. Either way judge decides, with the
// call's start, as for every listing. It returns how many entries it
// listed and how many records it confirmed.
func (s *Store) confirmData(ctx context.Context, dir string, rs []record) (listed, confirmed int) {
	s.confirmMu.Lock()
	n, ok := s.folderSize[dir]
	s.confirmMu.Unlock()
	if !ok {
		n = unknownFolderSize
	}
	if lookupCheaper(len(rs), n) {
		for _, r := range rs {
			if ctx.Err() != nil {
				break
			}
			confirmed += s.confirmByLookup(ctx, r)
		}
		return 0, confirmed
	}
	start := time.Now()
	entries, err := s.listRemote(ctx, dir)
	if err != nil {
		s.log.Debug("confirming listing failed", "dir", dir, "err", err)
		return 0, 0
	}
	s.confirmMu.Lock()
	s.folderSize[dir] = len(entries)
	s.confirmMu.Unlock()
	var cs []change
	for _, r := range rs {
		i, found := slices.BinarySearchFunc(entries, r.name, func(e Entry, name string) int { return strings.Compare(e.Name, name) })
		var size int64
		if found {
			size = entries[i].Size
		}
		s.lag.observe(&r, found, size, start)
		if c, ok := judge(&r, found, size, start); ok {
			cs = append(cs, c)
		}
	}
	confirmed, err = s.apply(ctx, cs)
	if err != nil {
		s.log.Warn("overlay: could not record a confirmation", "dir", dir, "err", err)
	}
	return len(entries), confirmed
}

// confirmByLookup confirms one record by looking it up, with the rule
// listings use (judge): a config, which no listing shows, or a data record
// in a big folder. It returns how many records it confirmed (0 or 1).
func (s *Store) confirmByLookup(ctx context.Context, r record) int {
	start := time.Now()
	obj, err := s.stat(ctx, r.key)
	if err != nil && !isNotFound(err) {
		s.log.Debug("confirming lookup failed", "object", r.key, "err", err)
		return 0
	}
	var size int64
	if err == nil {
		size = obj.Size()
	}
	s.lag.observe(&r, err == nil, size, start)
	c, ok := judge(&r, err == nil, size, start)
	if !ok {
		return 0
	}
	n, err := s.apply(ctx, []change{c})
	if err != nil {
		s.log.Warn("overlay: could not record a confirmation", "object", r.key, "err", err)
	}
	return n
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
