package cache

import (
	"path"
	"sort"
	"time"
)

// RepoRecords is one repository's overlay records the remote has not
// confirmed yet, for the status page.
type RepoRecords struct {
	Repo string
	// Created: writes the remote does not show yet. Tombstones: deletes
	// it may still list. PendingReaps: deletes it has not carried out yet
	// (the reaper retries them); OldestPendingReap is when the oldest one
	// was acknowledged (zero if none).
	Created, Tombstones, PendingReaps int
	OldestPendingReap                 time.Time
}

// RecordsByRepo counts the pending overlay records of each repository
// that has any, sorted by repository.
func (s *Store) RecordsByRepo() []RepoRecords {
	by := map[string]*RepoRecords{}
	s.ov.mu.RLock()
	for _, r := range s.ov.byKey {
		if !r.pending() {
			continue
		}
		// A config record sits in its repository's folder; every other
		// record in the repository's type folder.
		repo := r.dir
		if !r.isConfig() {
			repo = path.Dir(r.dir)
		}
		if repo == "." {
			repo = ""
		}
		rr := by[repo]
		if rr == nil {
			rr = &RepoRecords{Repo: repo}
			by[repo] = rr
		}
		switch {
		case r.kind == created:
			rr.Created++
		case r.reap:
			rr.PendingReaps++
			if rr.OldestPendingReap.IsZero() || r.at.Before(rr.OldestPendingReap) {
				rr.OldestPendingReap = r.at
			}
		default:
			rr.Tombstones++
		}
	}
	s.ov.mu.RUnlock()
	out := make([]RepoRecords, 0, len(by))
	for _, rr := range by {
		out = append(out, *rr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Repo < out[j].Repo })
	return out
}
