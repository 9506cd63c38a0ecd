package cache

import (
	"context"
	"path"
	"slices"
	"strings"
	"time"
)

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
