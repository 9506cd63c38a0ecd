package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// countingFs counts the calls that reach the remote and the entries its
// listings return. It hides the inner remote's recursive listing, so that
// a listing of data/ costs what it costs on WebDAV: one call per folder.
type countingFs struct {
	fs.Fs
	lists, stats, listed atomic.Int64
}

func (c *countingFs) Features() *fs.Features {
	ft := *c.Fs.Features()
	ft.ListR = nil
	return &ft
}

func (c *countingFs) List(ctx context.Context, dir string) (fs.DirEntries, error) {
	c.lists.Add(1)
	des, err := c.Fs.List(ctx, dir)
	c.listed.Add(int64(len(des)))
	return des, err
}

func (c *countingFs) NewObject(ctx context.Context, remote string) (fs.Object, error) {
	c.stats.Add(1)
	return c.Fs.NewObject(ctx, remote)
}

func (c *countingFs) reset() { c.lists.Store(0); c.stats.Store(0); c.listed.Store(0) }

// costRemote is a memory remote holding `existing` packs spread over the
// data/xx folders of repo, written behind the store's back (no records).
func costRemote(tb testing.TB, existing int) *countingFs {
	tb.Helper()
	ctx := context.Background()
	f, err := fs.NewFs(ctx, fmt.Sprintf(":memory:cost%d", rand.Uint64()))
	if err != nil {
		tb.Fatalf("memory remote: %v", err)
	}
	for _, name := range hexNames(existing, uint64(existing)) {
		remote := path.Join("repo", "data", name[:2], name)
		info := object.NewStaticObjectInfo(remote, time.Now(), 1, true, nil, f)
		if _, err := f.Put(ctx, bytes.NewReader([]byte{0}), info); err != nil {
			tb.Fatalf("put %s: %v", remote, err)
		}
	}
	return &countingFs{Fs: f}
}

// newPacks returns n pack contents whose names fall in n distinct prefix
// folders when spread, or all in one folder otherwise.
func newPacks(n int, spread bool) [][]byte {
	var out [][]byte
	used := map[string]bool{}
	var first string
	for i := 0; len(out) < n; i++ {
		data := []byte(fmt.Sprintf("new pack %d", i))
		sum := sha256.Sum256(data)
		prefix := hex.EncodeToString(sum[:1])
		if first == "" {
			first = prefix
		}
		if spread && used[prefix] || !spread && prefix != first {
			continue
		}
		used[prefix] = true
		out = append(out, data)
	}
	return out
}

// confirmRound writes the packs through s, then runs one background round
// late enough for the confirmer to take them, counting only that round.
// It returns the store's pending creates after the round.
func confirmRound(tb testing.TB, s *Store, c *countingFs, packs [][]byte) int {
	tb.Helper()
	ctx := context.Background()
	for _, data := range packs {
		sum := sha256.Sum256(data)
		h := Handle{Repo: "repo", Type: Data, Name: hex.EncodeToString(sum[:])}
		if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum[:]}); err != nil {
			tb.Fatalf("Put(%s): %v", h, err)
		}
	}
	c.reset()
	// A round at now+confirmMinAge sees the records as due; the store's own
	// loop, on real time, does not take them before the test ends.
	s.runDue(ctx, time.Now().Add(confirmMinAge+time.Second))
	return s.ov.counts().created
}

// TestConfirmCostIndependentOfRepository: confirming new packs costs the
// same calls with 1k as with 10k existing packs, lists only their prefix
// folders (never data/ as a whole) and looks none up: the upload's answer
// proved what a lookup would, a listing proves that listings show it.
func TestConfirmCostIndependentOfRepository(t *testing.T) {
	type cost struct{ lists, stats, listed int64 }
	for _, tc := range []struct {
		name   string
		n      int
		spread bool
		want   func(existing int) cost
	}{
		// One record per folder: one listing of each of its folders.
		{"10 spread", 10, true, func(int) cost { return cost{10, 0, -1} }},
		// Many records in one folder: one listing of that folder only.
		{"40 in one folder", 40, false, func(existing int) cost { return cost{1, 0, -1} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var costs []cost
			for _, existing := range []int{1000, 10000} {
				c := costRemote(t, existing)
				s := newStore(t, c, Options{})
				packs := newPacks(tc.n, tc.spread)
				if left := confirmRound(t, s, c, packs); left != 0 {
					t.Errorf("existing %d: %d records still pending after the round", existing, left)
				}
				got := cost{c.lists.Load(), c.stats.Load(), c.listed.Load()}
				want := tc.want(existing)
				if want.listed < 0 {
					// The listing of the one folder holds the new packs and
					// the ~existing/256 old ones: bounded by the folder, not data/.
					want.listed = got.listed
					folders := int64(1)
					if tc.spread {
						folders = int64(tc.n)
					}
					if bound := int64(tc.n) + folders*int64(4*existing/256); got.listed > bound {
						t.Errorf("existing %d: listed %d entries, want at most %d (one folder)", existing, got.listed, bound)
					}
				}
				if got != want {
					t.Errorf("existing %d: cost %+v, want %+v", existing, got, want)
				}
				costs = append(costs, got)
			}
			if calls := func(c cost) int64 { return c.lists + c.stats }; calls(costs[0]) != calls(costs[1]) {
				t.Errorf("cost grows with the repository: 1k %+v, 10k %+v", costs[0], costs[1])
			}
		})
	}
}

func TestLookupCheaper(t *testing.T) {
	for _, c := range []struct {
		k, n  int
		lists bool
		want  bool
	}{
		{1, 390, true, false}, // pCloud: a lookup lists the folder anyway
		{1, 0, true, false},
		{1, 0, false, true},    // one call either way; a lookup lists nothing
		{2, 0, false, false},   // one listing of an empty folder beats two lookups
		{1, 390, false, true},  // a new pack in a 100k-pack repository
		{4, 390, false, true},  // 4 calls against 1 call and 390 entries
		{5, 390, false, false}, // one listing confirms all five
		{11, unknownFolderSize, false, true},
		{12, unknownFolderSize, false, false},
	} {
		if got := lookupCheaper(c.k, c.n, c.lists); got != c.want {
			t.Errorf("lookupCheaper(%d, %d, %v) = %v, want %v", c.k, c.n, c.lists, got, c.want)
		}
	}
}

// BenchmarkConfirmRound reports the remote calls and listed entries of one
// confirmation round of 10 new packs, by the size of the repository:
//
//	go test -run '^$' -bench ConfirmRound -benchtime 5x ./cache/
func BenchmarkConfirmRound(b *testing.B) {
	for _, existing := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			c := costRemote(b, existing)
			var calls, listed int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, err := New(c, Options{})
				if err != nil {
					b.Fatal(err)
				}
				packs := newPacks(10, true)
				b.StartTimer()
				if left := confirmRound(b, s, c, packs); left != 0 {
					b.Fatalf("%d records still pending", left)
				}
				b.StopTimer()
				calls += c.lists.Load() + c.stats.Load()
				listed += c.listed.Load()
				s.Close()
				// The next iteration confirms the same packs as new.
				for _, data := range packs {
					sum := sha256.Sum256(data)
					name := hex.EncodeToString(sum[:])
					if o, err := c.Fs.NewObject(context.Background(), path.Join("repo", "data", name[:2], name)); err == nil {
						_ = o.Remove(context.Background())
					}
				}
			}
			b.ReportMetric(float64(calls)/float64(b.N), "calls/round")
			b.ReportMetric(float64(listed)/float64(b.N), "entries/round")
		})
	}
}

// TestConfirmByLookupWaitsForTheRemote: on a lagging remote, neither a
// lookup nor a prefix-folder listing that does not show a new pack
// confirms it, and neither lists data/ as a whole.
func TestConfirmByLookupWaitsForTheRemote(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		spread bool
	}{
		{"lookups", 3, true},
		{"folder listing", 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &countingFs{Fs: testutil.LagFs(t, "create_lag=1h")}
			s := newStore(t, c, Options{})
			if left := confirmRound(t, s, c, newPacks(tc.n, tc.spread)); left != tc.n {
				t.Errorf("%d records pending, want %d: a call that did not show them confirmed them", left, tc.n)
			}
			if calls := c.lists.Load() + c.stats.Load(); calls > int64(tc.n) {
				t.Errorf("%d calls for %d records", calls, tc.n)
			}
		})
	}
}
