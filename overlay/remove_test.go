package overlay

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

func TestDeleteSticksWhileRemoteStillLists(t *testing.T) {
	f := testutil.LagFs(t, "delete_lag=2s")
	s := newStore(t, f, Options{})
	h, _ := obj("lock two")
	put(t, s, h, "lock two")
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if got := rawNames(t, f, "repo/locks"); !slices.Equal(got, []string{h.Name}) {
		t.Fatalf("the lag fixture should still list the deleted object, lists %v", got)
	}
	if _, err := read(t, s, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete: err = %v, want ErrNotFound", err)
	}
	if got := names(t, s, "repo", Locks); len(got) != 0 {
		t.Fatalf("list after delete = %v, want empty", got)
	}
	if s.Stats().Events[EventMaskedStale] == 0 {
		t.Error("masked_stale_listing not counted")
	}
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatalf("repeated delete: %v", err)
	}
	testutil.Eventually(t, "tombstone confirmation", 15*time.Second, func() bool {
		names(t, s, "repo", Locks)
		return s.Stats().Tombstones == 0
	})
}

// pCloud answers not-found when a fresh file is deleted, and the file comes
// back later. The delete must still stick, and the reaper must remove it.
func TestDeleteOfFreshObjectIsReaped(t *testing.T) {
	f := testutil.LagFs(t, "create_lag=1500ms")
	s := newStore(t, f, Options{})
	h, _ := obj("lock three")
	put(t, s, h, "lock three")
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatalf("delete of a fresh object: %v", err)
	}
	if s.Stats().Events[EventDeleteAbsorbed] != 1 || s.Stats().PendingReaps != 1 {
		t.Fatalf("stats after absorbed delete: %+v", s.Stats())
	}
	if _, err := read(t, s, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	// After the create lag the remote shows the file; the overlay hides it
	// until the reaper has removed it for real.
	testutil.Eventually(t, "reap", 8*time.Second, func() bool {
		if got := names(t, s, "repo", Locks); len(got) != 0 {
			t.Fatalf("deleted object came back in a listing: %v", got)
		}
		return s.Stats().Events[EventReapDone] == 1
	})
	testutil.Eventually(t, "remote removal", 5*time.Second, func() bool { return len(rawNames(t, f, "repo/locks")) == 0 })
}

// A listing during the delete lag sees the deleted object (and caches its
// handle); once a later listing confirms the delete, neither the handle
// nor a listing that was in flight may bring it back.
func TestConfirmedDeleteStaysDeleted(t *testing.T) {
	f := testutil.LagFs(t, "delete_lag=1s")
	s := newStore(t, f, Options{})
	h, _ := obj("ghost")
	put(t, s, h, "ghost")
	names(t, s, "repo", Locks) // confirms the create
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s, "repo", Locks); len(got) != 0 {
		t.Fatalf("listing during the delete lag: %v", got)
	}
	testutil.Eventually(t, "delete confirmed", 15*time.Second, func() bool {
		names(t, s, "repo", Locks)
		return s.Stats().Tombstones == 0
	})
	if _, err := s.Lookup(context.Background(), h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after the confirmed delete: %v", err)
	}
	// A listing that started during the delete lag and returns now.
	stale := listing{entries: []Entry{{Name: h.Name, Size: 5}}, start: time.Now().Add(-2 * time.Second)}
	if out, _, _ := s.merge(context.Background(), typeDir("repo", Locks), stale); len(out) != 0 {
		t.Fatalf("a listing in flight during the confirmation brought the object back: %v", out)
	}
}

// BenchmarkRemove2000 is a prune's deletes: 2,000 packs over 256 prefix
// folders removed through Store.Remove, 5 at a time (restic's default
// connections), on a local remote: the remote calls alone (what rclone
// serve restic makes), and through the store with the journal and with
// Redis (appendfsync always). It reports the wall time per delete:
//
//	go test -run '^$' -bench Remove2000 -benchtime 3x ./cache/
func BenchmarkRemove2000(b *testing.B) {
	const n, workers = 2000, 5
	for _, store := range []string{"remote", "journal", "redis"} {
		b.Run(store, func(b *testing.B) {
			var srv *redistest.Server
			if store == "redis" {
				srv = redistest.Start(b, redistest.Options{AppendOnly: true})
			}
			ctx := context.Background()
			var wall time.Duration
			for range b.N {
				b.StopTimer()
				f, err := fs.NewFs(ctx, b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				hs := burstPacks(b, f, n, 256)
				opt := Options{StateDir: b.TempDir()}
				if srv != nil {
					opt.Shared = srv.URL()
				}
				remove := func(h Handle) error {
					// The peer's cost: the remote call alone.
					o, err := f.NewObject(ctx, h.remotePath())
					if err == nil {
						err = o.Remove(ctx)
					}
					return err
				}
				var s *Store
				if store != "remote" {
					if s, err = New(f, opt); err != nil {
						b.Fatal(err)
					}
					if _, err := s.List(ctx, "repo", Data); err != nil {
						b.Fatal(err)
					}
					remove = func(h Handle) error { return s.Remove(ctx, h) }
				}
				next := make(chan Handle)
				var wg sync.WaitGroup
				start := time.Now()
				b.StartTimer()
				for range workers {
					wg.Go(func() {
						for h := range next {
							if err := remove(h); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for _, h := range hs {
					next <- h
				}
				close(next)
				wg.Wait()
				b.StopTimer()
				wall += time.Since(start)
				if s != nil {
					s.Close()
				}
			}
			b.ReportMetric(float64(wall.Microseconds())/float64(b.N*n), "µs/delete")
		})
	}
}
