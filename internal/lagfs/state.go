package lagfs

import (
	"path"
	"strings"
	"sync"
	"time"
)

// ghost is what the lagging remote still lists for an object that was
// really removed below: its last known size and modtime.
type ghost struct {
	size    int64
	modTime time.Time
	until   time.Time
}

// state is the lag model of one wrapped remote. Paths are relative to the
// root of the wrapped remote (not to the lag Fs root), so every lag Fs over
// the same wrapped remote shares one model whatever its root: rclone may
// build several Fs instances (other roots, or a fresh one after its Fs cache
// expired) and they must all see the same lagging remote.
type state struct {
	mu        sync.Mutex
	pending   map[string]time.Time // path -> time it becomes visible
	ghosts    map[string]ghost     // path -> still listed until ghost.until
	nextSweep time.Time
	quota     quota
}

// sweepEvery bounds how often a write scans the maps for expired entries;
// lookups also drop the expired entry they meet.
var sweepEvery = time.Second

var (
	statesMu sync.Mutex
	states   = map[string]*state{}
)

// stateFor returns the shared lag model for the wrapped remote string.
func stateFor(remote string) *state {
	statesMu.Lock()
	defer statesMu.Unlock()
	s, ok := states[remote]
	if !ok {
		s = &state{pending: map[string]time.Time{}, ghosts: map[string]ghost{}}
		states[remote] = s
	}
	return s
}

// sweepLocked drops every entry whose lag has passed, at most once per
// sweepEvery, so memory stays bounded by the writes inside the lag window.
func (s *state) sweepLocked(now time.Time) {
	if now.Before(s.nextSweep) {
		return
	}
	s.nextSweep = now.Add(sweepEvery)
	for p, t := range s.pending {
		if !now.Before(t) {
			delete(s.pending, p)
		}
	}
	for p, g := range s.ghosts {
		if !now.Before(g.until) {
			delete(s.ghosts, p)
		}
	}
}

// created records a successful write of p, invisible until visibleAt. A new
// write also ends any ghost of an earlier delete of the same path.
func (s *state) created(p string, visibleAt time.Time) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	delete(s.ghosts, p)
	if visibleAt.After(now) {
		s.pending[p] = visibleAt
	} else {
		delete(s.pending, p)
	}
}

// removed records a successful removal of p, still listed until g.until.
func (s *state) removed(p string, g ghost) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	delete(s.pending, p)
	if g.until.After(now) {
		s.ghosts[p] = g
	} else {
		delete(s.ghosts, p)
	}
}

// isPending reports whether p was written and is still inside its create
// lag.
func (s *state) isPending(p string) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.pending[p]
	if !ok {
		return false
	}
	if !now.Before(t) {
		delete(s.pending, p)
		return false
	}
	return true
}

// isGhost reports whether p was removed and is still inside its delete lag.
func (s *state) isGhost(p string) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.ghosts[p]
	if !ok {
		return false
	}
	if !now.Before(g.until) {
		delete(s.ghosts, p)
		return false
	}
	return true
}

// view is a snapshot used to filter one listing consistently.
type view struct {
	pending map[string]struct{}
	ghosts  map[string]ghost
}

// snapshot returns the live pending paths and the live ghosts under dir
// (recursive when deep, direct children only otherwise). dir is relative
// to the wrapped remote root; "" is the root.
func (s *state) snapshot(dir string, deep bool) view {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := view{pending: make(map[string]struct{}, len(s.pending))}
	for p, t := range s.pending {
		if now.Before(t) {
			v.pending[p] = struct{}{}
		}
	}
	for p, g := range s.ghosts {
		if !now.Before(g.until) || !under(p, dir, deep) {
			continue
		}
		if v.ghosts == nil {
			v.ghosts = map[string]ghost{}
		}
		v.ghosts[p] = g
	}
	return v
}

// under reports whether p lies in dir (directly, or anywhere below if deep).
func under(p, dir string, deep bool) bool {
	if deep {
		return dir == "" || strings.HasPrefix(p, dir+"/")
	}
	parent := path.Dir(p)
	if parent == "." {
		parent = ""
	}
	return parent == dir
}
