package overlay

import (
	"context"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
)

// confirmDue confirms the records a client's listing has not confirmed
// yet, so that they retire even where restic does not list (data/ between
// prunes). locks/, keys/, snapshots/ and index/ are listed whole; a
// config is looked up; data records are confirmed per prefix folder
// (confirmData), so the cost follows what was written, not the size of
// data/.
//
// Each unit is confirmed in one batch after a burst, not in rounds during
// it (confirmPace): a prune's thousands of deletes over 256 folders cost
// one listing per folder once it is over, where restic's own listing of
// data/ costs the same. While a kind's lag (creates, deletes) is
// unmeasured, one unit at a time is looked at early for it as well, to
// measure it (probeDue).
func (s *Store) confirmDue(ctx context.Context, now time.Time, w work) {
	for _, l := range s.lag.release(now) {
		if l.kind == VisibleCreate {
			s.obs.Visible(VisibleCreate, l.lag)
		} else {
			s.obs.Visible(VisibleDelete, l.lag)
		}
	}
	// recs holds the records of the units confirmed record by record
	// (configs, data prefix folders); the other units are type folders.
	recs := map[string][]*record{}
	for _, r := range w.configs {
		recs[r.key.path] = append(recs[r.key.path], r)
	}
	for _, r := range w.data {
		u := confirmUnit(r.key) // repo/data/xx
		recs[u] = append(recs[u], r)
	}
	units := slices.Clone(w.dirs)
	for u := range recs {
		units = append(units, u)
	}

	p := confirmPace{wait: quietWait(s.lag.recent()), maxDefer: s.opt.SettleWindow / 2}
	probes := map[recKind]time.Duration{}
	for kind, name := range map[recKind]string{created: VisibleCreate, tombstone: VisibleDelete} {
		if age, ok := s.lag.probe(name, now, p.wait); ok {
			probes[kind] = age
		}
	}
	// A data prefix folder's burst is its data/ folder's: a prune
	// deletes packs in every prefix folder at once, each of them quiet
	// for seconds between two of its deletes while the burst goes on.
	burst := map[string]time.Time{}
	for u := range recs {
		if a := w.units[u]; !rs0IsConfig(recs[u]) && a.newest.After(burst[path.Dir(u)]) {
			burst[path.Dir(u)] = a.newest
		}
	}
	activity := func(u string) unitActivity {
		a := w.units[u]
		if rs, ok := recs[u]; ok && !rs0IsConfig(rs) {
			a.newest = burst[path.Dir(u)]
		}
		return a
	}
	s.confirmMu.Lock()
	for kind := range probes {
		if now.Sub(s.lastProbe[kind]) < probeEvery {
			delete(probes, kind)
		}
	}
	active := make(map[string]bool, len(units))
	var due []string
	probed := map[string]bool{}
	for _, u := range units {
		active[u] = true
		st := s.pace[u]
		if st == nil {
			st = &confirmState{}
			s.pace[u] = st
		}
		switch {
		case p.due(activity(u), st, now):
			due = append(due, u)
		default:
			if kind, ok := probeDue(w.units[u], now, probes); ok {
				due = append(due, u)
				probed[u] = true
				s.lastProbe[kind] = now
				delete(probes, kind) // one at a time: its answer narrows the next
			}
		}
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
		var confirmed int
		switch rs, ok := recs[u]; {
		case ok && rs[0].isConfig():
			confirmed = s.confirmByLookup(ctx, rs[0])
		case ok:
			confirmed = s.confirmData(ctx, u, rs)
		default:
			_, n, err := s.listFresh(ctx, u)
			if err != nil {
				s.log.Debug("confirming listing failed", "dir", u, "err", err)
			}
			confirmed = n
		}
		if probed[u] {
			continue // an extra look: the unit's schedule stays as it was
		}
		s.confirmMu.Lock()
		if st := s.pace[u]; st != nil {
			p.looked(st, now, confirmed > 0)
		}
		s.confirmMu.Unlock()
	}
}

// confirmPace is the confirmer's schedule, the same for every unit and
// both record stores (the records' times come from work.units).
//
// A unit is looked at once it has been quiet for wait (no record newer
// than that: the burst of writes or deletes there is over, and the
// remote had its lag to catch up with all of them), so one call proves
// the whole burst. A unit that keeps getting records is looked at anyway
// once its oldest waited maxDefer (half the settle window): pending
// records then number at most what a burst adds in that time, and each
// still gets its confirmation well inside the settle window. After a
// look, the unit waits wait again (the records it did not prove were made
// less than the lag before it), doubling up to a minute while looks prove
// nothing (the remote lags more than measured).
type confirmPace struct {
	wait, maxDefer time.Duration
}

// due tells whether the unit with activity a and state st is to be looked
// at now.
func (p confirmPace) due(a unitActivity, st *confirmState, now time.Time) bool {
	if now.Before(st.next) {
		return false
	}
	return now.Sub(a.newest) >= p.wait || now.Sub(a.oldest) >= p.maxDefer
}

// looked moves st past a look at now that proved something or nothing.
func (p confirmPace) looked(st *confirmState, now time.Time, proved bool) {
	if proved {
		st.backoff = p.wait
	} else {
		st.backoff = min(max(2*st.backoff, p.wait), time.Minute)
	}
	st.next = now.Add(st.backoff)
}

// probeEvery is the shortest time between two probes of one kind's lag
// (creates, deletes): a few calls a minute at most, also through a long
// burst whose lag the probes cannot pin (a prune's deletes).
const probeEvery = 10 * time.Second

// probeDue tells whether a unit is to be looked at now, before it is
// quiet, to measure the lag (lagState.probe), and for which kind: its
// newest record of a kind whose lag is unmeasured is as old as that
// kind's probe age. Without it, every look comes after the lag and tells
// only that the lag is shorter. A probe is an extra look: the unit's
// schedule (confirmPace) neither holds it back nor moves for it, or a
// regular look of the unit's other kind would keep a probe from ever
// landing at its age.
func probeDue(a unitActivity, now time.Time, probes map[recKind]time.Duration) (recKind, bool) {
	for kind, age := range probes {
		// Near that age, not past it: a later look tells less.
		if t := a.newestOf[kind]; !t.IsZero() && now.Sub(t) >= age && now.Sub(t) < age+2*tick {
			return kind, true
		}
	}
	return 0, false
}

// quietWait is how long a unit must be quiet before the confirmer looks:
// the remote's measured lag with a margin, so that one look finds every
// change there shown; never before confirmMinAge (restic's own listings
// of locks/, snapshots/ and index/ confirm for free meanwhile), at most a
// minute.
func quietWait(lag time.Duration) time.Duration {
	return min(max(lag+lag/4+500*time.Millisecond, confirmMinAge), time.Minute)
}

// lookupCost is how many listed entries cost about as much as one call: a
// listing of 100 entries is a response of some 50 KB (WebDAV, pCloud),
// which on a far cloud takes about as long as a request.
const lookupCost = 100

// unknownFolderSize is the size assumed for a prefix folder never listed:
// large enough that a few deletes are looked up rather than listed along
// with everything their folder holds.
const unknownFolderSize = 1000

// lookupCheaper tells whether looking up k records by name costs less
// than one listing of their folder of n objects: k calls against one call
// and n entries. A listing confirms all k records at once; a lookup one.
// Where a lookup is itself a listing of the parent folder (lookupLists:
// rclone's pcloud backend), one listing is always cheaper.
func lookupCheaper(k, n int, lookupLists bool) bool {
	if lookupLists {
		return false
	}
	return k*lookupCost <= lookupCost+n
}

// lookupListsFolder tells whether f answers a lookup by name (NewObject)
// by listing the object's folder: rclone's pcloud backend does
// (readMetaDataForPath lists the parent and picks the name).
func lookupListsFolder(f fs.Fs) bool {
	ri := fs.FindFromFs(fs.UnWrapFs(f))
	return ri != nil && ri.Name == "pcloud"
}

// confirmData confirms data records of one prefix folder (repo/data/xx)
// with the narrowest call that proves them. A create needs a listing:
// the upload's own answer (the object, its size and hash) already proved
// what a lookup would, and what is left to prove is that listings show
// it. Deletes alone are looked up by name or proven by one listing of the
// folder (never of data/), as lookupCheaper picks from the folder's last
// known size. Either way judge decides, with the call's start, as for
// every listing. It returns how many records it confirmed.
func (s *Store) confirmData(ctx context.Context, dir string, rs []*record) (confirmed int) {
	n, ok := s.folders.size(dir)
	if !ok {
		n = unknownFolderSize
	}
	creates := slices.ContainsFunc(rs, func(r *record) bool { return r.kind == created })
	if !creates && lookupCheaper(len(rs), n, s.lookupLists) {
		for _, r := range rs {
			if ctx.Err() != nil {
				break
			}
			confirmed += s.confirmByLookup(ctx, r)
		}
		return confirmed
	}
	start := time.Now()
	entries, err := s.listRemote(ctx, dir)
	if err != nil {
		s.log.Debug("confirming listing failed", "dir", dir, "err", err)
		return 0
	}
	s.folders.set(map[string]int{dir: len(entries)})
	var cs []change
	for _, r := range rs {
		i, found := slices.BinarySearchFunc(entries, r.key.name, func(e Entry, name string) int { return strings.Compare(e.Name, name) })
		var size int64
		if found {
			size = entries[i].Size
		}
		s.lag.observe(r, found, size, start)
		if c, ok := judge(r, found, size, start); ok {
			cs = append(cs, c)
		}
	}
	confirmed, err = s.apply(ctx, cs)
	if err != nil {
		s.log.Warn("overlay: could not record a confirmation", "dir", dir, "err", err)
	}
	return confirmed
}

// confirmByLookup confirms one record by looking it up, with the rule
// listings use (judge): a config, which no listing shows, or a data record
// in a big folder. It returns how many records it confirmed (0 or 1).
func (s *Store) confirmByLookup(ctx context.Context, r *record) int {
	start := time.Now()
	obj, err := s.stat(ctx, r.key.path)
	if err != nil && !isNotFound(err) {
		s.log.Debug("confirming lookup failed", "object", r.key.path, "err", err)
		return 0
	}
	var size int64
	if err == nil {
		size = obj.Size()
	}
	s.lag.observe(r, err == nil, size, start)
	c, ok := judge(r, err == nil, size, start)
	if !ok {
		return 0
	}
	n, err := s.apply(ctx, []change{c})
	if err != nil {
		s.log.Warn("overlay: could not record a confirmation", "object", r.key.path, "err", err)
	}
	return n
}

// confirmState paces the confirmer's looks at one unit (confirmPace).
type confirmState struct {
	next    time.Time     // no look before
	backoff time.Duration // the wait after the last look
}

// rs0IsConfig tells whether a unit's records are a config's (a unit of
// its own, confirmed by a lookup).
func rs0IsConfig(rs []*record) bool { return len(rs) > 0 && rs[0].isConfig() }
