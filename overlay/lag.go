package overlay

import (
	"slices"
	"sync"
	"time"
)

// The remote's visibility lag, measured from the observations the store
// makes anyway (client listings, the confirmer's listings and lookups,
// removals and lookups the remote answers not-found): no call is made to
// measure it.
//
// An observation of a pending record started at some time after the
// write (or the remote's acceptance of a delete) and either missed the
// change (a listing or lookup without the new object, a listing still
// holding the deleted one) or showed it (a hit). The true lag lies
// between the latest miss and the first hit; the estimate is the middle
// of that interval. With no miss, the write's acknowledgement bounds it
// from below.
//
// One record alone rarely pins the lag: the confirmer first looks after
// confirmMinAge, so a remote with no lag and one with 3 s both show a
// record first at ~5 s. But one listing of a folder sees records of many
// ages, and the lag is a property of the remote, not of one object: the
// latest miss age and the earliest hit age of the last few minutes, over
// all records, bound it as well. Each record's interval is narrowed by
// those bounds where they fall inside it. Where nothing bounds it from
// below (the confirmer, which waits until a folder is quiet for longer
// than the lag, looked first), the record is not reported: the middle of
// (0, first look] would be the confirmer's schedule. While recent misses
// and hits do not bracket a kind's lag within lagResolution, the
// confirmer makes one of its looks early (probe), at the middle of what
// is known: a look that misses costs one more look later (a few a minute
// at most, none once the lag is pinned), one that hits proves what the
// regular look would have. restic's own listings, which come at any age,
// give misses too. Calls are placed by their start, as judge does.
//
// A remote that serves a new object at once (rclone's local backend:
// Put and Remove return once the file system did it) has no lag to
// measure: the acknowledgement is the first hit, and the lag reads 0.

// maxLagTracked bounds the records whose observations are kept: past it,
// the oldest half is dropped (a measurement, not a contract: lost at
// restart too).
const maxLagTracked = 10000

// lagEvidence is how long an observation of any record narrows the
// intervals of others, and lagEvidenceKept how many of each kind are kept.
const (
	lagEvidence     = 2 * time.Minute
	lagEvidenceKept = 64
)

// lagKey names one record: its object and the time it refers to.
type lagKey struct {
	key objectKey
	ref int64
}

// lagTrack is what was seen of one pending record.
type lagTrack struct {
	kind      string
	miss, hit time.Time // start of the latest miss, of the first hit
}

// lagAge is one observation's age (start − reference), for the bounds.
type lagAge struct {
	at  time.Time
	age time.Duration
}

// lagBounds keeps the recent miss and hit ages of one kind.
type lagBounds struct {
	misses, hits []lagAge
}

// keepRecent adds a to s. Past lagEvidenceKept it drops what is older
// than lagEvidence, then the least telling age (worse tells which of two
// is): one listing of a busy folder shows dozens of old changes, and
// those must not push out the one young hit (or old miss) that bounds
// the lag, or the confirmer would probe again at once.
func keepRecent(s []lagAge, a lagAge, worse func(x, y time.Duration) bool) []lagAge {
	s = append(s, a)
	if len(s) <= lagEvidenceKept {
		return s
	}
	cutoff := a.at.Add(-lagEvidence)
	s = slices.DeleteFunc(s, func(x lagAge) bool { return !x.at.After(cutoff) })
	for len(s) > lagEvidenceKept {
		w := 0
		for i := range s {
			if worse(s[i].age, s[w].age) {
				w = i
			}
		}
		s = slices.Delete(s, w, w+1)
	}
	return s
}

// A hit tells more the younger it is, a miss the older.
func longer(x, y time.Duration) bool  { return x > y }
func shorter(x, y time.Duration) bool { return x < y }

// window returns the latest miss age and the earliest hit age seen since
// cutoff (ok false for a side with none).
func (b *lagBounds) window(cutoff time.Time) (lo time.Duration, loOK bool, hi time.Duration, hiOK bool) {
	for _, a := range b.misses {
		if a.at.After(cutoff) && (!loOK || a.age > lo) {
			lo, loOK = a.age, true
		}
	}
	for _, a := range b.hits {
		if a.at.After(cutoff) && (!hiOK || a.age < hi) {
			hi, hiOK = a.age, true
		}
	}
	return lo, loOK, hi, hiOK
}

// lagState is the store's observations of its pending records. The zero
// value is ready to use.
type lagState struct {
	mu     sync.Mutex
	tracks map[lagKey]*lagTrack
	bounds map[string]*lagBounds    // by kind (VisibleCreate, VisibleDelete)
	held   []lagSample              // settled, not yet pinned (release)
	last   map[string]time.Duration // the latest lag settled, by kind
}

// recent is the longest of the latest lags settled for creates and
// deletes (0 before any): what the confirmer waits for (quietWait).
func (l *lagState) recent() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lag time.Duration
	for _, d := range l.last {
		lag = max(lag, d)
	}
	return lag
}

// lagRef tells which lag r's observations measure and from when: a write
// from its acknowledgement, a delete from the remote's acceptance of it.
// ok is false for a record whose visibility is not in question (a delete
// the remote has not carried out, a deferred lock not yet uploaded).
func lagRef(r *record) (kind string, ref time.Time, ok bool) {
	switch {
	case !r.pending() || r.deferred:
		return "", time.Time{}, false
	case r.kind == created:
		return VisibleCreate, r.at, true
	case !r.removedAt.IsZero():
		return VisibleDelete, r.removedAt, true
	}
	return "", time.Time{}, false
}

// lagObservation is one record as an observation saw it (a view's
// record, never changed in place: held by pointer, not copied).
type lagObservation struct {
	rec   *record
	shown bool
	size  int64
}

// observe notes what an observation of the remote that started at start
// showed of r: shown, with size. It makes no decision on r (judge does).
func (l *lagState) observe(r *record, shown bool, size int64, start time.Time) {
	kind, ref, ok := lagRef(r)
	if !ok || !start.After(ref) {
		return // an observation from before the change tells nothing of it
	}
	hit := !shown
	if kind == VisibleCreate {
		hit = shown && size == r.size
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tracks == nil {
		l.tracks = map[lagKey]*lagTrack{}
		l.bounds = map[string]*lagBounds{}
	}
	k := lagKey{r.key, ref.UnixNano()}
	t := l.tracks[k]
	if t == nil {
		if len(l.tracks) >= maxLagTracked {
			l.dropOldest()
		}
		t = &lagTrack{kind: kind}
		l.tracks[k] = t
	}
	b := l.bounds[kind]
	if b == nil {
		b = &lagBounds{}
		l.bounds[kind] = b
	}
	age := lagAge{at: start, age: start.Sub(ref)}
	switch {
	case hit && (t.hit.IsZero() || start.Before(t.hit)):
		t.hit = start
		b.hits = keepRecent(b.hits, age, longer)
	case !hit && start.After(t.miss) && (t.hit.IsZero() || start.Before(t.hit)):
		t.miss = start
		b.misses = keepRecent(b.misses, age, shorter)
	}
}

// observeAll notes the observations of one listing.
func (l *lagState) observeAll(obs []lagObservation, start time.Time) {
	for i := range obs {
		l.observe(obs[i].rec, obs[i].shown, obs[i].size, start)
	}
}

// dropOldest forgets the half of the tracks with the oldest reference.
// Called with mu held; rare (a remote that never confirms).
func (l *lagState) dropOldest() {
	refs := make([]int64, 0, len(l.tracks))
	for k := range l.tracks {
		refs = append(refs, k.ref)
	}
	slices.Sort(refs)
	cut := refs[len(refs)/2]
	for k := range l.tracks {
		if k.ref <= cut {
			delete(l.tracks, k)
		}
	}
}

// forget drops what was seen of r (retired without a confirmation, or
// replaced).
func (l *lagState) forget(r *record) {
	_, ref, ok := lagRef(r)
	if !ok {
		return
	}
	l.mu.Lock()
	delete(l.tracks, lagKey{r.key, ref.UnixNano()})
	l.mu.Unlock()
}

// settle returns the lag of r, which the remote confirmed at confirmedAt
// (its record as the confirmation found it), and forgets r; ok is false
// when the observations do not measure it. atOnce tells that the remote
// serves a change as soon as it acknowledged it.
func (l *lagState) settle(r *record, confirmedAt time.Time, atOnce bool) (lag time.Duration, ok bool) {
	kind, ref, ok := lagRef(r)
	if !ok {
		return 0, false
	}
	if atOnce {
		l.forget(r)
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := lagKey{r.key, ref.UnixNano()}
	var t lagTrack
	if p := l.tracks[k]; p != nil {
		t = *p
		delete(l.tracks, k)
	}
	lo, hi := time.Duration(0), confirmedAt.Sub(ref) // unobserved here: confirmed elsewhere, by then
	if !t.hit.IsZero() {
		hi = t.hit.Sub(ref)
	}
	if !t.miss.IsZero() {
		lo = t.miss.Sub(ref)
	}
	lo, hi = l.narrow(kind, lo, hi, confirmedAt)
	lag = (lo + hi) / 2
	if l.last == nil {
		l.last = map[string]time.Duration{}
	}
	l.last[kind] = lag // the confirmer's wait: its best guess either way
	if hi-lo <= lagReported || hi <= lagPinned {
		return lag, true
	}
	// Not pinned yet: the confirmer's probes, which it makes while the
	// kind's lag is not bracketed, will narrow it (release).
	if len(l.held) >= maxLagTracked {
		l.held = l.held[1:]
	}
	l.held = append(l.held, lagSample{kind: kind, lo: lo, hi: hi, at: confirmedAt})
	return 0, false
}

// narrow narrows a record's interval (lo, hi] by the recent misses and
// hits of its kind, where they fall inside it. Called with mu held.
func (l *lagState) narrow(kind string, lo, hi time.Duration, at time.Time) (time.Duration, time.Duration) {
	if b := l.bounds[kind]; b != nil {
		bLo, loOK, bHi, hiOK := b.window(at.Add(-lagEvidence))
		if loOK && bLo > lo && bLo < hi {
			lo = bLo
		}
		if hiOK && bHi < hi && bHi > lo {
			hi = bHi
		}
	}
	return lo, hi
}

// lagSample is a confirmed record's lag interval, held until the recent
// observations pin it.
type lagSample struct {
	kind   string
	lo, hi time.Duration
	at     time.Time
	lag    time.Duration // once released
}

// lagHold is how long a settled record waits for the probes to pin its
// lag: they come within seconds while records are pending, and a burst
// that ended leaves none to probe.
const lagHold = 30 * time.Second

// release returns the held samples that the observations since pinned
// within lagReported: the middle of a record's interval, never the middle
// of (0, first look], which would be the confirmer's schedule. Those not
// pinned within lagHold are dropped unreported: a wider interval's middle
// can be off by more than the half second the metric promises.
func (l *lagState) release(now time.Time) []lagSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []lagSample
	l.held = slices.DeleteFunc(l.held, func(s lagSample) bool {
		lo, hi := l.narrow(s.kind, s.lo, s.hi, now)
		if hi-lo <= lagReported {
			s.lag = (lo + hi) / 2
			out = append(out, s)
			return true
		}
		return now.Sub(s.at) > lagHold
	})
	return out
}

// lagPinned is the longest first hit, with no miss before it, that still
// measures a lag (as under half of it).
const lagPinned = time.Second

// lagResolution is how closely the recent misses and hits must bracket
// a kind's lag for the confirmer not to probe it, and lagReported how
// closely a record's lag must be bracketed to be reported (its middle is
// then within half of that).
const (
	lagResolution = 500 * time.Millisecond
	lagReported   = time.Second
)

// probe tells whether kind's lag is unmeasured at now (the recent misses
// and hits do not bracket it within lagResolution) and, if so, at what age
// a look at a new change would narrow it most: the middle of what is
// known, the confirmer's regular wait (first) standing in for a hit not
// yet seen. A look at that age that misses costs the confirmer one more
// look later; one that hits proves what the regular look would have.
func (l *lagState) probe(kind string, now time.Time, first time.Duration) (age time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lo, hi time.Duration = 0, first
	if b := l.bounds[kind]; b != nil {
		bLo, loOK, bHi, hiOK := b.window(now.Add(-lagEvidence))
		if loOK {
			lo = bLo
		}
		if hiOK && bHi < hi {
			hi = bHi
		}
	}
	if hi-lo <= lagResolution {
		return 0, false
	}
	return (lo + hi) / 2, true
}

// stillListed counts, by repository, the deletes the remote carried out
// since `since` whose latest observation still showed the object: deletes
// the remote still lists, as opposed to records merely waiting for a
// listing. (A track outlives a record replaced by a new write until the
// settle window passes; the caller caps the count by the tombstones.)
func (l *lagState) stillListed(since time.Time) map[string]int {
	out := map[string]int{}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, t := range l.tracks {
		if t.kind != VisibleDelete || t.miss.IsZero() || !t.hit.IsZero() || k.ref < since.UnixNano() {
			continue
		}
		out[k.key.repo()]++
	}
	return out
}
