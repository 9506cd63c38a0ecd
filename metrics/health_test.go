package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/health"
	"github.com/steadyrest/steadyrest/overlay"
)

const (
	mLastSnapshot = "steadyrest_repository_last_snapshot_timestamp_seconds"
	mSnapshots    = "steadyrest_repository_snapshots"
	mStoredBytes  = "steadyrest_repository_stored_bytes"
	mPacks        = "steadyrest_repository_packs"
	mLocks        = "steadyrest_repository_locks"
	mStaleLock    = "steadyrest_repository_oldest_stale_lock_age_seconds"
)

func TestRepositoryHealth(t *testing.T) {
	m, srv := setup(t)
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	tr := health.New(func() time.Time { return now }, nil)
	m.SetHealth(tr)
	id := func(c string) string { return strings.Repeat(c, 64) }

	// Seen, but nothing listed yet: every figure absent, none 0 (a last
	// snapshot of 0 would read as 1970).
	tr.Stored("quiet", overlay.Data, id("a"), 10)
	fams, _ := scrape(t, srv, "")
	for _, name := range []string{mLastSnapshot, mSnapshots, mStoredBytes, mPacks, mLocks, mStaleLock} {
		if find(fams, name, map[string]string{"repo": "/quiet"}) != nil {
			t.Errorf("%s present for a repository with nothing listed", name)
		}
	}

	repo := map[string]string{"repo": "/r"}
	tr.Listed("r", overlay.Snapshots, []overlay.Entry{{Name: id("1"), Size: 300}})
	tr.Listed("r", overlay.Data, []overlay.Entry{{Name: id("2"), Size: 1000}})
	tr.Stored("r", overlay.Locks, id("3"), 200)
	tr.Listed("r", overlay.Locks, []overlay.Entry{{Name: id("3"), Size: 200}})
	tr.Stored("r", overlay.Snapshots, id("4"), 300)
	fams, _ = scrape(t, srv, "")
	for name, want := range map[string]float64{
		mLastSnapshot: float64(now.Unix()), mSnapshots: 2, mStoredBytes: 1000, mPacks: 1, mLocks: 1, mStaleLock: 0,
	} {
		if got := value(t, fams, name, repo); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	now = now.Add(health.StaleAfter + time.Minute)
	fams, _ = scrape(t, srv, "")
	if got := value(t, fams, mStaleLock, repo); got != (31 * time.Minute).Seconds() {
		t.Errorf("stale lock age %v, want 31m", got)
	}
}
