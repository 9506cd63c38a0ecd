package cache

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
	case !r.confirmable(now):
		return dutyNone
	case r.isConfig():
		return dutyConfirmConfig
	case isDataDir(r.dir):
		return dutyConfirmData
	}
	return dutyConfirmDir
}

// workList gathers the work of records, each folder once.
type workList struct {
	now    time.Time
	settle time.Duration
	w      work
	dirs   map[string]bool
}

func newWorkList(now time.Time, settle time.Duration) *workList {
	return &workList{now: now, settle: settle, dirs: map[string]bool{}}
}

// add puts r's work, if any, in the list.
func (l *workList) add(r record) {
	d := dutyOf(r, l.now, l.settle)
	if d == dutyConfirmDir {
		if !l.dirs[r.dir] {
			l.dirs[r.dir] = true
			l.w.dirs = append(l.w.dirs, r.dir)
		}
		return
	}
	if list := l.w.of(d); list != nil {
		*list = append(*list, r)
	}
}

// of is the list of w that holds the records of duty d (nil: none does).
func (w *work) of(d duty) *[]record {
	return [...]*[]record{
		dutyUpload: &w.uploads, dutyRetire: &w.retire, dutyExpire: &w.expire, dutyReap: &w.reaps,
		dutyConfirmConfig: &w.configs, dutyConfirmData: &w.data, dutyConfirmDir: nil, dutyNone: nil,
	}[d]
}
