package cache

import (
	"context"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
)

// tick is how often the background loop looks for work.
const tick = 500 * time.Millisecond

// background runs the reaper, the confirmer and the settle-window valve
// until Close.
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
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		now := time.Now()
		s.expire(now)
		s.dropStaleListings(now)
		s.reapDue(ctx, now)
		s.confirmDue(ctx, now)
		cancel()
	}
}

// expire retires records older than the settle window: the safety valve.
// This is the one place the guarantee can lapse, so each is logged.
func (s *Store) expire(now time.Time) {
	var retired []retiredRec
	var expired []*record
	s.ov.mu.Lock()
	for _, r := range s.ov.byKey {
		switch {
		case !r.pending():
			if now.Sub(r.confirmedAt()) > retireGrace {
				s.ov.dropLocked(r) // its journal entry went at confirmation
			}
		case now.Sub(r.at) > s.opt.SettleWindow:
			expired = append(expired, r)
			if s.ov.dropLocked(r) {
				retired = append(retired, retiredRec{key: r.key, at: r.at})
			}
		}
	}
	s.ov.mu.Unlock()
	for _, r := range expired {
		state := "created"
		switch {
		case r.kind == tombstone && r.reap:
			state = "pending reap"
		case r.kind == tombstone:
			state = "tombstone"
		}
		s.log.Warn("overlay record retired at the settle window without the remote confirming it",
			"object", r.key, "state", state, "age", now.Sub(r.at).Round(time.Second))
	}
	s.event(EventRetiredTimeout, len(expired))
	s.journalDrop(retired)
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

// reapDue retries the removals the remote refused, with backoff.
func (s *Store) reapDue(ctx context.Context, now time.Time) {
	var due []*record
	s.ov.mu.RLock()
	for _, r := range s.ov.byKey {
		if r.kind == tombstone && r.reap && !now.Before(r.nextReap) {
			due = append(due, r)
		}
	}
	s.ov.mu.RUnlock()
	for _, r := range due {
		if ctx.Err() != nil {
			return
		}
		s.reap(ctx, r)
	}
}

func (s *Store) reap(ctx context.Context, r *record) {
	unlock := s.locks.lock(r.key)
	defer unlock()
	if s.ov.get(r.key) != r {
		return // written again or retired meanwhile
	}
	var obj fs.Object
	err := s.remote(OpStat, func() (err error) {
		obj, err = s.f.NewObject(ctx, r.key)
		return err
	})
	if err == nil {
		err = s.remote(OpDelete, func() error { return obj.Remove(ctx) })
	}
	s.ov.mu.Lock()
	if err == nil {
		r.reap, r.removedAt = false, time.Now()
	} else {
		r.reapTries++
		r.nextReap = time.Now().Add(min(time.Second<<min(r.reapTries, 6), time.Minute))
	}
	s.ov.mu.Unlock()
	if err != nil {
		if !isNotFound(err) {
			s.log.Warn("reaper could not remove an object yet", "object", r.key, "tries", r.reapTries, "err", err)
		}
		return
	}
	s.event(EventReapDone, 1)
	s.log.Info("reaper removed a deleted object", "object", r.key, "after", time.Since(r.at).Round(time.Millisecond))
	s.journalTombstone(r.key)
}

// confirmDue lists the folders that hold records a listing can confirm, so
// that records retire by the remote's confirmation even where restic does
// not list (data/ between prunes). A folder's interval doubles, up to a
// minute, while its listings confirm nothing (the remote lags), and drops
// back to a floor that grows with the folder's size when they do: a busy
// locks/ folder is listed every 2 s, so tombstones do not pile up under
// load, while a long backup does not make us list a large data/ folder
// every few seconds.
func (s *Store) confirmDue(ctx context.Context, now time.Time) {
	var dirs []string
	var configs []*record
	s.ov.mu.RLock()
	for _, r := range s.ov.byKey {
		if r.isConfig() && r.pending() && (r.kind == created || !r.reap) && now.Sub(r.at) >= confirmMinAge {
			configs = append(configs, r)
			dirs = append(dirs, r.key) // paced like a folder
		}
	}
	for dir, names := range s.ov.byDir {
		for _, r := range names {
			confirmable := r.pending() && (r.kind == created || !r.reap)
			if confirmable && now.Sub(r.at) >= confirmMinAge {
				dirs = append(dirs, dir)
				break
			}
		}
	}
	s.ov.mu.RUnlock()

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
	for _, r := range configs {
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
		entries, confirmed, err := s.listCounted(ctx, dir, isDataDir(dir), true)
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
// config) by looking it up, and retires it when the remote agrees.
func (s *Store) confirmByLookup(ctx context.Context, r *record) {
	start := time.Now()
	var obj fs.Object
	err := s.remote(OpStat, func() (err error) {
		obj, err = s.f.NewObject(ctx, r.key)
		return err
	})
	if err != nil && !isNotFound(err) {
		s.log.Debug("confirming lookup failed", "object", r.key, "err", err)
		return
	}
	found := err == nil
	var retired []retiredRec
	var flipped bool
	s.ov.mu.Lock()
	switch {
	case !r.pending():
	case r.kind == created && found && obj.Size() == r.size && start.After(r.at):
		s.obs.Visible(VisibleCreate, time.Since(r.at))
		s.confirmLocked(r, &retired)
	case r.kind == tombstone && !r.reap && !found && !r.removedAt.IsZero() && start.After(r.removedAt):
		s.obs.Visible(VisibleDelete, time.Since(r.removedAt))
		s.confirmLocked(r, &retired)
	case r.kind == tombstone && !r.reap && r.removedAt.IsZero() && start.After(r.at):
		if found {
			r.reap, flipped = true, true // it exists after all: remove it for real
		} else {
			s.confirmLocked(r, &retired)
		}
	}
	s.ov.mu.Unlock()
	s.event(EventRetiredConfirmed, len(retired))
	s.journalDrop(retired)
	if flipped {
		s.journalTombstone(r.key)
	}
}

// confirmMinAge is how long a record waits before the confirmer lists its
// folder for it: restic lists locks/, snapshots/ and index/ itself at the
// start of every command, and those listings confirm records for free.
const confirmMinAge = 5 * time.Second

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
