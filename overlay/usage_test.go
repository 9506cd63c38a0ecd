package overlay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rfs "github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/walk"

	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// diskUsage is what the folder below a local remote really holds, but for
// steadyrest's own objects: what the remote finally shows.
func diskUsage(t *testing.T, root string) Usage {
	t.Helper()
	var u Usage
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ReservedDir {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			u.count(info.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return u
}

// listedUsage is what the remote's own listing shows now, lag and all:
// what a count that ignores the overlay would find.
func listedUsage(t *testing.T, f rfs.Fs) Usage {
	t.Helper()
	var u Usage
	err := walk.ListR(context.Background(), f, "", true, -1, walk.ListObjects, func(des rfs.DirEntries) error {
		for _, de := range des {
			if !IsOwnObject(de.Remote()) {
				u.count(de.Size())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func writeFile(t *testing.T, root, key string, size int) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
}

func countUsage(t *testing.T, s *Store) Usage {
	t.Helper()
	u, err := s.CountUsage(context.Background())
	if err != nil {
		t.Fatalf("CountUsage: %v", err)
	}
	return u
}

func wantUsage(t *testing.T, s *Store, want Usage, when string) {
	t.Helper()
	if got, ok := s.Usage(); !ok || got != want {
		t.Errorf("%s: usage %+v (counted %v), want %+v", when, got, ok, want)
	}
}

// The store's count on a lagging remote: seeded from its own listing with
// the overlay applied, kept by uploads, overwrites and deletes (a failed
// upload and a delete of nothing count nothing), the same after a restart
// while the remote still lags, and equal to what the remote finally holds.
// Over both record stores: the local journal and Redis.
func TestUsageOnLaggingRemote(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := "journal"
		if shared {
			name = "redis"
		}
		t.Run(name, func(t *testing.T) {
			opt := Options{StateDir: t.TempDir()}
			if shared {
				opt = Options{Shared: redistest.Start(t, redistest.Options{}).URL()}
			}
			testUsageOnLaggingRemote(t, opt)
		})
	}
}

func testUsageOnLaggingRemote(t *testing.T, opt Options) {
	ctx := context.Background()
	f, root := testutil.LagRemote(t, "create_lag=4s,delete_lag=4s,quota_bytes=5000")
	old := handleOf(Data, "stored before the start")
	old.Repo = "old"
	writeFile(t, root, old.remotePath(), 300)
	writeFile(t, root, "old/stray", 7)                  // not restic's: counted all the same, as rest-server does
	writeFile(t, root, ReservedDir+"/instances/x", 500) // steadyrest's own: never counted

	s, err := New(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := countUsage(t, s); got != (Usage{Bytes: 307, Objects: 2}) {
		t.Fatalf("seed: %+v, want 307 bytes in 2 objects", got)
	}
	if got := s.folders.all(); len(got) != 1 || got["old/data/"+old.Name[:2]] != 1 {
		t.Errorf("prefix folders after the seed: %v, want old's one folder of 1", got)
	}

	fresh := handleOf(Data, strings.Repeat("f", 100))
	put(t, s, fresh, strings.Repeat("f", 100))
	put(t, s, handleOf(Locks, strings.Repeat("l", 50)), strings.Repeat("l", 50))
	config := Handle{Repo: "repo", Type: Config}
	for _, body := range []string{strings.Repeat("c", 30), strings.Repeat("C", 45)} {
		if err := s.Put(ctx, config, strings.NewReader(body), int64(len(body)), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wantUsage(t, s, Usage{Bytes: 307 + 100 + 50 + 45, Objects: 5}, "after two uploads and a config written twice")
	if got, _ := s.folders.size("repo/data/" + fresh.Name[:2]); got != 1 {
		t.Errorf("prefix folder of the upload holds %d, want 1", got)
	}

	// Failed uploads: a body that does not match its name, and one the
	// remote refuses (over its own quota).
	bad, sum := obj("the real content")
	bad.Type = Data
	if err := s.Put(ctx, bad, strings.NewReader("other content..."), 16, PutOptions{SHA256: sum}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("an upload whose content does not match its name: %v, want ErrHashMismatch", err)
	}
	big := strings.Repeat("b", 6000)
	if err := s.Put(ctx, handleOf(Data, big), strings.NewReader(big), 6000, PutOptions{}); !errors.Is(err, ErrInsufficientStorage) {
		t.Fatalf("an upload past the remote's quota: %v, want ErrInsufficientStorage", err)
	}
	// A delete of nothing, of an object from before the start, and of the
	// fresh upload the remote still hides (absorbed; the reaper removes it).
	for _, h := range []Handle{handleOf(Data, "never stored"), old, fresh} {
		if err := s.Remove(ctx, h); err != nil {
			t.Fatalf("Remove(%s): %v", h, err)
		}
	}
	want := Usage{Bytes: 7 + 50 + 45, Objects: 3}
	wantUsage(t, s, want, "after the failed uploads and the deletes")

	if listed := listedUsage(t, f); listed == want {
		t.Fatalf("the remote already lists what the overlay holds (%+v): the lag fixture should still hide the uploads and show the deletes", listed)
	}
	// A restart while the remote lags.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = newStore(t, f, opt)
	if got := countUsage(t, s); got != want {
		t.Errorf("seed after a restart on the lagging remote (which lists %+v): %+v, want %+v", listedUsage(t, f), got, want)
	}
	if got := s.folders.all(); got["old/data/"+old.Name[:2]] != 1 {
		t.Errorf("prefix folders after the restart: %v, want old's folder still listed with 1", got)
	}
	testutil.Eventually(t, "the remote to hold what the store counts", time.Minute, func() bool { return diskUsage(t, root) == want })
	wantUsage(t, s, want, "once the remote caught up")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := countUsage(t, newStore(t, f, opt)); got != want {
		t.Errorf("seed once the remote caught up: %+v, want %+v", got, want)
	}
}

// A deferred lock counts when it is acknowledged, and a delete before its
// upload gives its size back: the remote never held it.
func TestUsageDeferredLock(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, localRemote(t, root), Options{StateDir: t.TempDir(), LockUploadDelay: time.Hour})
	countUsage(t, s)
	lock := handleOf(Locks, "a lock written behind")
	put(t, s, lock, "a lock written behind")
	wantUsage(t, s, Usage{Bytes: 21, Objects: 1}, "after a deferred lock")
	if err := s.Remove(context.Background(), lock); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, Usage{}, "after its delete")
	if got := diskUsage(t, root); got != (Usage{}) {
		t.Errorf("the remote holds %+v", got)
	}
}

// Without a count there is nothing to read, and the store does not look
// anything up to keep one.
func TestUsageOff(t *testing.T) {
	s := newStore(t, testutil.LagFs(t), Options{})
	put(t, s, handleOf(Locks, "x"), "x")
	if u, ok := s.Usage(); ok || u != (Usage{}) {
		t.Errorf("usage %+v, %v before CountUsage, want none", u, ok)
	}
	if got := s.folders.all(); len(got) != 0 {
		t.Errorf("prefix folder sizes %v before CountUsage", got)
	}
}
