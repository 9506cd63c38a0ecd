package health

import (
	"sort"
	"time"
)

// Repo is one repository's health at one moment. A Known flag false means
// the figure is not known yet (its folder was not listed since the start),
// which is not the same as zero.
type Repo struct {
	Name string // repository path, "" for the root repository

	// LastSnapshot is when the newest snapshot was written: by a POST
	// through this server, or, for one written past it (another instance,
	// or before a listing), the first listing that showed it. Zero: none
	// seen written since the start.
	LastSnapshot   time.Time
	Snapshots      int
	SnapshotsKnown bool

	Packs, Bytes int64
	DataKnown    bool

	Locks      int
	LocksKnown bool
	// StaleLocks are the locks nobody refreshed for StaleAfter; the oldest
	// was first seen at OldestStaleLock (zero when there is none).
	StaleLocks      int
	OldestStaleLock time.Time
}

// OldestStaleLockAge is how long the oldest stale lock has been held at
// now, 0 without one.
func (r Repo) OldestStaleLockAge(now time.Time) time.Duration {
	if r.OldestStaleLock.IsZero() {
		return 0
	}
	return now.Sub(r.OldestStaleLock)
}

// Now is the tracker's clock, so that a report's ages agree with it.
func (t *Tracker) Now() time.Time {
	if t == nil {
		return time.Now()
	}
	return t.now()
}

// Repos returns every tracked repository's health, by name.
func (t *Tracker) Repos() []Repo {
	if t == nil {
		return nil
	}
	now := t.now()
	t.mu.Lock()
	out := make([]Repo, 0, len(t.repos))
	for name, r := range t.repos {
		out = append(out, r.report(name, now))
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *repoHealth) report(name string, now time.Time) Repo {
	p := Repo{Name: name, LastSnapshot: r.lastSnapshot,
		Snapshots: len(r.snapshots), SnapshotsKnown: r.snapshots != nil,
		Packs: int64(r.packs), Bytes: r.bytes, DataKnown: r.dataKnown,
		Locks: len(r.locks), LocksKnown: r.locksKnown}
	for _, since := range r.locks {
		if now.Sub(since) < StaleAfter {
			continue
		}
		p.StaleLocks++
		if p.OldestStaleLock.IsZero() || since.Before(p.OldestStaleLock) {
			p.OldestStaleLock = since
		}
	}
	return p
}
