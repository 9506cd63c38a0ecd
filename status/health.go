package status

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/health"
)

// RepoHealth is one repository's health line: what restic last did to it,
// as the server saw it (package health). A nil figure is not known yet:
// the folder it comes from was not listed since the start.
type RepoHealth struct {
	Name string `json:"repo"`
	// LastSnapshot is when the newest snapshot was written (or first
	// listed, when written past this server); nil: none seen.
	LastSnapshot    *time.Time `json:"last_snapshot,omitempty"`
	LastSnapshotAge Seconds    `json:"last_snapshot_age_s"`
	Snapshots       *int       `json:"snapshots,omitempty"`
	StoredBytes     *int64     `json:"stored_bytes,omitempty"`
	Packs           *int64     `json:"packs,omitempty"`
	Locks           int        `json:"locks"`
	StaleLocks      int        `json:"stale_locks"`
	// StaleLockSince is when the oldest stale lock was first seen; Unlock
	// is the command that removes the stale locks.
	StaleLockSince *time.Time `json:"stale_lock_since,omitempty"`
	StaleLockAge   Seconds    `json:"stale_lock_age_s"`
	Unlock         string     `json:"unlock,omitempty"`
}

// notListed stands for a figure whose folder was not listed since the
// start (restic lists snapshots/ at most commands, data/ at prune and
// check).
const notListed = "not listed yet"

// SnapshotCount is the number of snapshots for the page.
func (h RepoHealth) SnapshotCount() string {
	if h.Snapshots == nil {
		return notListed
	}
	return fmt.Sprint(*h.Snapshots)
}

// Stored is the size stored for the page.
func (h RepoHealth) Stored() string {
	if h.StoredBytes == nil {
		return notListed
	}
	return fmt.Sprintf("%s in %d pack(s)", bytesIEC(*h.StoredBytes), *h.Packs)
}

// repoHealth builds the health lines at now; base is the repository URL's
// start (rest:http://host/base), for the unlock command.
func repoHealth(repos []health.Repo, now time.Time, base string) []RepoHealth {
	out := make([]RepoHealth, 0, len(repos))
	for _, r := range repos {
		h := RepoHealth{Name: r.Name, Locks: r.Locks, StaleLocks: r.StaleLocks}
		if !r.LastSnapshot.IsZero() {
			at := r.LastSnapshot.UTC()
			h.LastSnapshot, h.LastSnapshotAge = &at, Seconds(now.Sub(at))
		}
		if r.SnapshotsKnown {
			h.Snapshots = &r.Snapshots
		}
		if r.DataKnown {
			h.StoredBytes, h.Packs = &r.Bytes, &r.Packs
		}
		if !r.OldestStaleLock.IsZero() {
			at := r.OldestStaleLock.UTC()
			h.StaleLockSince, h.StaleLockAge = &at, Seconds(now.Sub(at))
			repo := base + "/"
			if r.Name != "" {
				repo += r.Name + "/"
			}
			h.Unlock = "restic -r " + repo + " unlock"
		}
		out = append(out, h)
	}
	return out
}

// repoURLBase is the restic repository URL of the server's root as the
// client of r reaches it: rest:SCHEME://HOST/BASEURL.
func repoURLBase(r *http.Request, baseURL string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return "rest:" + scheme + "://" + r.Host + strings.TrimSuffix(baseURL, "/")
}

// bytesIEC writes n bytes for people: 512 B, 3.4 MiB.
func bytesIEC(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < 4 {
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[unit])
}
