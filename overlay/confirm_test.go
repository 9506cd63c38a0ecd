package overlay

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/pcloud"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// burstPacks writes n packs spread evenly over k prefix folders of
// repo/data on f, behind any store's back (packs left by earlier
// backups), and returns their handles.
func burstPacks(t testing.TB, f fs.Fs, n, k int) []Handle {
	t.Helper()
	ctx := context.Background()
	var hs []Handle
	for i := range n {
		name := fmt.Sprintf("%02x%062x", i%k, rand.Uint64())
		remote := path.Join("repo", "data", name[:2], name)
		info := object.NewStaticObjectInfo(remote, time.Now(), 1, true, nil, f)
		if _, err := f.Put(ctx, bytes.NewReader([]byte{0}), info); err != nil {
			t.Fatalf("put %s: %v", remote, err)
		}
		hs = append(hs, Handle{Repo: "repo", Type: Data, Name: name})
	}
	return hs
}

// removeBurst deletes hs through s one every gap, as restic's prune does,
// calling during after each delete.
func removeBurst(t *testing.T, s *Store, hs []Handle, gap time.Duration, during func()) {
	t.Helper()
	for _, h := range hs {
		if err := s.Remove(context.Background(), h); err != nil {
			t.Fatalf("Remove(%s): %v", h, err)
		}
		during()
		time.Sleep(gap)
	}
}

// A prune's burst of deletes over K prefix folders, longer than the
// confirmer's first look (confirmMinAge), on a remote that still lists a
// deleted pack for 2 s: the confirmer makes no call while the burst goes
// on, and proves all the deletes after it with at most one listing per
// folder and no lookup. Both record stores follow the same rule. Before,
// it looked each tombstone up by name, round after round, during the
// burst (48 lookups for 48 deletes here, the first ones while deleting).
func TestConfirmBurstAfterItEnds(t *testing.T) {
	const n, k = 48, 4
	for _, store := range []string{"journal", "redis"} {
		t.Run(store, func(t *testing.T) {
			c := &countingFs{Fs: testutil.LagFs(t, "delete_lag=2s")}
			hs := burstPacks(t, c.Fs, n, k)
			opt := Options{StateDir: t.TempDir()}
			var s *Store
			if store == "redis" {
				s = sharedStores(t, redistest.Start(t, redistest.Options{}), c, 1, opt)[0]
			} else {
				s = newStore(t, c, opt)
			}
			// restic lists data/ first: the handles it leaves spare the
			// deletes a lookup each.
			if got := len(names(t, s, "repo", Data)); got != n {
				t.Fatalf("data/ lists %d packs, want %d", got, n)
			}
			c.reset()
			var duringLists, duringStats int64
			removeBurst(t, s, hs, 150*time.Millisecond, func() {
				duringLists, duringStats = c.lists.Load(), c.stats.Load()
			})
			if duringLists != 0 || duringStats != 0 {
				t.Errorf("during a %d-delete burst the confirmer made %d listings and %d lookups, want none", n, duringLists, duringStats)
			}
			testutil.Eventually(t, "the deletes to be confirmed", time.Minute, func() bool {
				return s.ov.counts().tombstones == 0
			})
			if lists, stats := c.lists.Load(), c.stats.Load(); lists > k || stats != 0 {
				t.Errorf("after the burst: %d listings and %d lookups for %d deletes over %d folders, want at most %d listings and no lookup",
					lists, stats, n, k, k)
			}
		})
	}
}

// On rclone's pcloud backend a lookup by name lists the parent folder
// (readMetaDataForPath), so deletes are proven by one listing of their
// folder, never by a lookup each, whatever the counts. Counted at the
// pCloud API emulator: before, 3 deletes in a folder never listed cost the
// confirmer 3 listfolder calls.
func TestConfirmOnPcloudLists(t *testing.T) {
	srv, err := pcloudemu.New(pcloudemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	f, err := fs.NewFs(context.Background(), srv.RcloneRemote())
	if err != nil {
		t.Fatal(err)
	}
	hs := burstPacks(t, f, 3, 1)
	s := newStore(t, f, Options{StateDir: t.TempDir()})
	if !s.lookupLists {
		t.Fatal("the pcloud backend is not known to list for a lookup")
	}
	removeBurst(t, s, hs, 0, func() {})
	before := srv.Stats().Calls["listfolder"]
	testutil.Eventually(t, "the deletes to be confirmed", time.Minute, func() bool {
		return s.ov.counts().tombstones == 0
	})
	if got := srv.Stats().Calls["listfolder"] - before; got != 1 {
		t.Errorf("the confirmer made %d listfolder calls for 3 deletes in one folder, want 1", got)
	}
}
