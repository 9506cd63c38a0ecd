package overlay

import "time"

// The background work, decided once for both record stores: each store
// only finds the records (all of them, or those its indexes point at) and
// hands each to workList.add.

// duty is the background work one record calls for at a moment.
type duty uint8

const (
	dutyNone          duty = iota
	dutyUpload             // a deferred lock: uploaded when uploadDue, never expired
	dutyRetire             // confirmed past retireGrace: dropped
	dutyExpire             // pending past the settle window: dropped
	dutyReap               // a pending reap whose retry time came
	dutyConfirmConfig      // a config record: only a lookup confirms it
	dutyConfirmData        // a data record: confirmed by its prefix folder or by name
	dutyConfirmDir         // a record whose folder's listing confirms it
)

// dutyOf is the work r calls for at now.
func dutyOf(r record, now time.Time, settle time.Duration) duty {
	switch {
	case r.deferred:
		return dutyUpload
	case !r.pending():
		if now.Sub(r.confirmed) > retireGrace {
			return dutyRetire
		}
		return dutyNone
	case now.Sub(r.at) > settle:
		return dutyExpire
	case r.reapDue(now):
		return dutyReap
	case !r.confirmable():
		return dutyNone
	case r.isConfig():
		return dutyConfirmConfig
	case isDataDir(r.key.dir):
		return dutyConfirmData
	}
	return dutyConfirmDir
}

// confirmUnit is what one confirming call proves the records of, named
// for the record of key: a config by itself (a lookup), any other record
// by the folder it sits in, a data pack's prefix folder (repo/data/xx) or
// a type folder.
func confirmUnit(key objectKey) string {
	if key.isConfig() {
		return key.path
	}
	return key.folder()
}

// unitActivity is when the records awaiting confirmation in one unit were
// made: the newest tells whether a burst of writes or deletes there is
// over, the oldest how long the unit has waited, the newest of each kind
// whether a look now would observe it before the lag (confirm.go's
// pacing).
type unitActivity struct {
	newest, oldest time.Time
	newestOf       [tombstone + 1]time.Time // by recKind
}

// workList gathers the work of records, each folder once.
type workList struct {
	now    time.Time
	settle time.Duration
	w      work
	dirs   map[string]bool
}

func newWorkList(now time.Time, settle time.Duration) *workList {
	return &workList{now: now, settle: settle, dirs: map[string]bool{}, w: work{units: map[string]unitActivity{}}}
}

// active notes r, which awaits confirmation, in its unit.
func (l *workList) active(r *record) {
	u := confirmUnit(r.key)
	a, ok := l.w.units[u]
	if !ok || r.at.After(a.newest) {
		a.newest = r.at
	}
	if !ok || r.at.Before(a.oldest) {
		a.oldest = r.at
	}
	if r.at.After(a.newestOf[r.kind]) {
		a.newestOf[r.kind] = r.at
	}
	l.w.units[u] = a
}

// unread tells that records up to newest await confirmation beyond those
// added (a store read only a batch of them): which units they fall in is
// unknown, so every unit counts as active until newest. Its confirmation
// then waits for the whole burst to end, or for maxDefer.
func (l *workList) unread(newest time.Time) {
	for u, a := range l.w.units {
		if newest.After(a.newest) {
			a.newest = newest
			l.w.units[u] = a
		}
	}
}

// add puts r's work, if any, in the list.
func (l *workList) add(r *record) {
	d := dutyOf(*r, l.now, l.settle)
	if d == dutyConfirmConfig || d == dutyConfirmData || d == dutyConfirmDir {
		l.active(r)
	}
	if d == dutyConfirmDir {
		if dir := r.key.dir; !l.dirs[dir] {
			l.dirs[dir] = true
			l.w.dirs = append(l.w.dirs, dir)
		}
		return
	}
	if list := l.w.of(d); list != nil {
		*list = append(*list, r)
	}
}

// of is the list of w that holds the records of duty d (nil: none does).
func (w *work) of(d duty) *[]*record {
	return [...]*[]*record{
		dutyUpload: &w.uploads, dutyRetire: &w.retire, dutyExpire: &w.expire, dutyReap: &w.reaps,
		dutyConfirmConfig: &w.configs, dutyConfirmData: &w.data, dutyConfirmDir: nil, dutyNone: nil,
	}[d]
}
