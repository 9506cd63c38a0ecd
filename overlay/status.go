package overlay

import (
	"sort"
	"time"
)

// RepoRecords is one repository's overlay records the remote has not
// confirmed yet, for the status page.
type RepoRecords struct {
	Repo string
	// Created: writes the remote has not been seen to show yet.
	// Tombstones: deletes the remote carried out whose latest listing
	// still showed the object (not those merely awaiting a listing). PendingReaps: deletes it has not carried out yet
	// (the reaper retries them); OldestPendingReap is when the oldest one
	// was acknowledged (zero if none).
	Created, Tombstones, PendingReaps int
	OldestPendingReap                 time.Time
}

// RecordsByRepo counts the pending overlay records of each repository
// that has any, sorted by repository.
func (s *Store) RecordsByRepo() []RepoRecords {
	by := s.ov.countsByRepo()
	listed := s.lag.stillListed(time.Now().Add(-s.opt.SettleWindow))
	out := make([]RepoRecords, 0, len(by))
	for repo, c := range by {
		out = append(out, RepoRecords{Repo: repo, Created: c.created, Tombstones: min(listed[repo], c.tombstones),
			PendingReaps: c.reaps, OldestPendingReap: c.oldestReap})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Repo < out[j].Repo })
	return out
}
