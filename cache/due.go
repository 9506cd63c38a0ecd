package cache

import (
	"path"
	"time"
)

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

// awaitsConfirmation tells whether r waits for the confirmer, now or once
// it is old enough (confirmMinAge): what the confirmer's pacing counts as
// activity in r's unit. A shared store finds these records by its state
// sets z:pc and z:pt, which hold exactly the pending creates (deferred
// locks excepted) and the pending tombstones that are not reaps.
func awaitsConfirmation(r record, now time.Time, settle time.Duration) bool {
	return r.pending() && !r.deferred && (r.kind == created || !r.reap) && now.Sub(r.at) <= settle
}

// confirmUnit is what one confirming call proves the records of, named by
// a record's key: a config by itself (a lookup), a data pack by its prefix
// folder (repo/data/xx), any other record by its type folder.
func confirmUnit(key string) string {
	if path.Base(key) == string(Config) {
		return key
	}
	return path.Dir(key)
}

// unitActivity is when the records awaiting confirmation in one unit were
// made: the newest tells whether a burst of writes or deletes there is
// over, the oldest how long the unit has waited (confirm.go's pacing).
type unitActivity struct {
	newest, oldest time.Time
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

// active notes a record awaiting confirmation, made at, in key's unit.
func (l *workList) active(key string, at time.Time) {
	u := confirmUnit(key)
	a, ok := l.w.units[u]
	if !ok || at.After(a.newest) {
		a.newest = at
	}
	if !ok || at.Before(a.oldest) {
		a.oldest = at
	}
	l.w.units[u] = a
}

// add puts r's work, if any, in the list.
func (l *workList) add(r record) {
	if awaitsConfirmation(r, l.now, l.settle) {
		l.active(r.key, r.at)
	}
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
