package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"testing"
	"time"

	"github.com/rclone/rclone/fs/object"
)

// all returns every known count.
func (f *folderSizes) all() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.n)
}

// The one count of a prefix folder: unknown until a listing shows the
// folder or the seed counts every folder, moved by uploads and deletes
// only once known.
func TestFolderSizes(t *testing.T) {
	f := newFolderSizes()
	if _, ok := f.size("r/data/ab"); ok {
		t.Fatal("a folder no listing showed is known")
	}
	f.add("r/data/ab", 1)
	if _, ok := f.size("r/data/ab"); ok {
		t.Fatal("an upload made an unknown folder's count")
	}
	f.set(map[string]int{"r/data/ab": 3, "r/data/cd": 2})
	f.set(map[string]int{"r/data/ab": 4}) // a later listing, without cd
	f.add("r/data/ab", -1)
	if n, ok := f.size("r/data/ab"); !ok || n != 3 {
		t.Errorf("ab = %d, %v, want 3", n, ok)
	}
	if n, ok := f.size("r/data/cd"); !ok || n != 2 {
		t.Errorf("cd = %d, %v, want its last count, 2", n, ok)
	}
	f.add("r/data/cd", -5)
	if n, _ := f.size("r/data/cd"); n != 0 {
		t.Errorf("cd = %d after more deletes than it held, want 0", n)
	}
	f.seed(map[string]int{"r/data/ef": 7})
	if n, ok := f.size("r/data/ab"); !ok || n != 0 {
		t.Errorf("after the seed, a folder it did not count = %d, %v, want empty", n, ok)
	}
	f.add("r/data/ab", 1)
	if got := f.all(); !maps.Equal(got, map[string]int{"r/data/ab": 1, "r/data/ef": 7}) {
		t.Errorf("counts %v", got)
	}
}

// The confirmer reads the count the usage seed made: deletes of two of
// the three packs of a prefix folder no listing showed are proved by one
// listing of that folder (which holds one object now), not by a lookup
// of each, as for a folder of unknown size.
func TestConfirmerReadsSeededFolderSizes(t *testing.T) {
	ctx := context.Background()
	c := costRemote(t, 0)
	var hs []Handle
	for _, data := range newPacks(3, false) {
		sum := sha256.Sum256(data)
		h := Handle{Repo: "repo", Type: Data, Name: hex.EncodeToString(sum[:])}
		info := object.NewStaticObjectInfo(h.remotePath(), time.Now(), int64(len(data)), true, nil, c.Fs)
		if _, err := c.Fs.Put(ctx, bytes.NewReader(data), info); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	s := newStore(t, c, Options{})
	if _, err := s.CountUsage(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs[:2] {
		if err := s.Remove(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	c.reset()
	s.runDue(ctx, time.Now().Add(confirmMinAge+time.Second))
	if lists, stats := c.lists.Load(), c.stats.Load(); lists != 1 || stats != 0 {
		t.Errorf("confirming two deletes in a folder of one: %d listings, %d lookups; want 1 listing", lists, stats)
	}
	if n := s.ov.counts().tombstones; n != 0 {
		t.Errorf("%d deletes still pending", n)
	}
}
