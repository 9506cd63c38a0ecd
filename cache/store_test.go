package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/memory"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/walk"

	"github.com/steadyrest/steadyrest/lagfs"
)

// lagRemote returns a real local-folder remote wrapped in the lag backend.
func lagRemote(t *testing.T, opts string) fs.Fs {
	t.Helper()
	f, _ := faultRemote(t, opts)
	return f
}

// mem is the store's in-memory overlay, for tests that plant records.
func mem(s *Store) *overlay { return s.ov.(*overlay) }

func newStore(t *testing.T, f fs.Fs, opt Options) *Store {
	t.Helper()
	s, err := New(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func obj(data string) (Handle, []byte) {
	sum := sha256.Sum256([]byte(data))
	return Handle{Repo: "repo", Type: Locks, Name: hex.EncodeToString(sum[:])}, sum[:]
}

func put(t *testing.T, s *Store, h Handle, data string) {
	t.Helper()
	sum := sha256.Sum256([]byte(data))
	if err := s.Put(context.Background(), h, strings.NewReader(data), int64(len(data)), PutOptions{SHA256: sum[:]}); err != nil {
		t.Fatalf("Put(%s): %v", h, err)
	}
}

func read(t *testing.T, s *Store, h Handle) (string, error) {
	t.Helper()
	o, err := s.Lookup(context.Background(), h)
	if err != nil {
		return "", err
	}
	rc, err := o.Open(context.Background(), 0, -1)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func names(t *testing.T, s *Store, repo string, typ Type) []string {
	t.Helper()
	es, err := s.List(context.Background(), repo, typ)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

// rawNames lists what the remote itself shows, without the overlay.
func rawNames(t *testing.T, f fs.Fs, dir string) []string {
	t.Helper()
	var out []string
	err := walk.ListR(context.Background(), f, dir, true, 2, walk.ListObjects, func(des fs.DirEntries) error {
		for _, de := range des {
			out = append(out, de.Remote()[strings.LastIndexByte(de.Remote(), '/')+1:])
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrorDirNotFound) {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadYourWritesOnLaggingRemote(t *testing.T) {
	f := lagRemote(t, ",create_lag=1500ms,delete_lag=1500ms")
	s := newStore(t, f, Options{})
	h, _ := obj("lock one")
	put(t, s, h, "lock one")

	if got := rawNames(t, f, "repo/locks"); len(got) != 0 {
		t.Fatalf("the lag fixture should hide the fresh object, remote lists %v", got)
	}
	if got, err := read(t, s, h); err != nil || got != "lock one" {
		t.Fatalf("read after write: %q, %v", got, err)
	}
	if got := names(t, s, "repo", Locks); !slices.Equal(got, []string{h.Name}) {
		t.Fatalf("list after write = %v, want [%s]", got, h.Name)
	}
	if s.Stats().Events[EventAddedMissing] == 0 {
		t.Error("added_missing_listing not counted")
	}
	// Once the remote shows it, the record retires by confirmation: the
	// confirmer's fresh listing (client listings come from the 30 s
	// listing cache, taken before the remote showed it).
	waitFor(t, "confirmation", 15*time.Second, func() bool {
		names(t, s, "repo", Locks)
		return s.Stats().Created == 0
	})
	if s.Stats().Events[EventRetiredConfirmed] == 0 {
		t.Error("retired_confirmed not counted")
	}
	if got, err := read(t, s, h); err != nil || got != "lock one" {
		t.Fatalf("read after retirement: %q, %v", got, err)
	}
}

func TestDeleteSticksWhileRemoteStillLists(t *testing.T) {
	f := lagRemote(t, ",delete_lag=2s")
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
	waitFor(t, "tombstone confirmation", 15*time.Second, func() bool {
		names(t, s, "repo", Locks)
		return s.Stats().Tombstones == 0
	})
}

// pCloud answers not-found when a fresh file is deleted, and the file comes
// back later. The delete must still stick, and the reaper must remove it.
func TestDeleteOfFreshObjectIsReaped(t *testing.T) {
	f := lagRemote(t, ",create_lag=1500ms")
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
	waitFor(t, "reap", 8*time.Second, func() bool {
		if got := names(t, s, "repo", Locks); len(got) != 0 {
			t.Fatalf("deleted object came back in a listing: %v", got)
		}
		return s.Stats().Events[EventReapDone] == 1
	})
	waitFor(t, "remote removal", 5*time.Second, func() bool { return len(rawNames(t, f, "repo/locks")) == 0 })
}

// A listing during the delete lag sees the deleted object (and caches its
// handle); once a later listing confirms the delete, neither the handle
// nor a listing that was in flight may bring it back.
func TestConfirmedDeleteStaysDeleted(t *testing.T) {
	f := lagRemote(t, ",delete_lag=1s")
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
	waitFor(t, "delete confirmed", 15*time.Second, func() bool {
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

func TestSettleWindowRetiresByTimeout(t *testing.T) {
	f := lagRemote(t, ",create_lag=1h")
	s := newStore(t, f, Options{SettleWindow: 700 * time.Millisecond})
	h, _ := obj("never shows")
	put(t, s, h, "never shows")
	waitFor(t, "timeout retirement", 5*time.Second, func() bool { return s.Stats().Events[EventRetiredTimeout] == 1 })
	if s.Stats().Created != 0 {
		t.Fatalf("record still there: %+v", s.Stats())
	}
}

func TestRestartKeepsRecords(t *testing.T) {
	f := lagRemote(t, ",create_lag=2s,delete_lag=2s")
	state := t.TempDir()
	s1, err := New(f, Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := obj("kept")
	gone, _ := obj("gone")
	put(t, s1, kept, "kept")
	put(t, s1, gone, "gone")
	if err := s1.Remove(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := newStore(t, f, Options{StateDir: state})
	st := s2.Stats()
	if st.Created != 1 || st.PendingReaps != 1 {
		t.Fatalf("records after restart: %+v", st)
	}
	if got := names(t, s2, "repo", Locks); !slices.Equal(got, []string{kept.Name}) {
		t.Fatalf("list after restart = %v, want only %s", got, kept.Name)
	}
	if _, err := read(t, s2, gone); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted object after restart: %v", err)
	}
	// The journal kept the small object's bytes: served at once, without
	// waiting for the lagging remote.
	if got, err := read(t, s2, kept); err != nil || got != "kept" {
		t.Fatalf("read after restart: %q, %v", got, err)
	}
	if hits := s2.Stats().ContentHits; hits != 1 {
		t.Errorf("read after restart: %d content-cache hits, want 1 (the journal's copy)", hits)
	}
	waitFor(t, "reap after restart", 8*time.Second, func() bool { return s2.Stats().Events[EventReapDone] == 1 })
}

func TestJournalIsPerRemote(t *testing.T) {
	state := t.TempDir()
	f1 := lagRemote(t, ",create_lag=1h")
	s1, err := New(f1, Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := obj("on the first remote")
	put(t, s1, h, "on the first remote")
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, lagRemote(t, ""), Options{StateDir: state})
	if st := s2.Stats(); st.Created != 0 {
		t.Fatalf("another remote's records were applied: %+v", st)
	}
	if _, err := s2.Lookup(context.Background(), h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup on the second remote: %v", err)
	}
}

func TestJournalLockedByAnotherInstance(t *testing.T) {
	f := lagRemote(t, "")
	state := t.TempDir()
	newStore(t, f, Options{StateDir: state})
	if _, err := New(f, Options{StateDir: state}); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second store on one journal: err = %v, want a locked error", err)
	}
}

func TestBadUploadsStoreNothing(t *testing.T) {
	f := lagRemote(t, "")
	s := newStore(t, f, Options{})
	data := bytes.Repeat([]byte("x"), 3<<20) // larger than the content cache limit
	sum := sha256.Sum256(data)
	h := Handle{Repo: "repo", Type: Data, Name: hex.EncodeToString(sum[:])}
	ctx := context.Background()

	wrong := sha256.Sum256([]byte("other"))
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: wrong[:]}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("wrong hash: err = %v", err)
	}
	if err := s.Put(ctx, h, bytes.NewReader(data[:len(data)-1]), int64(len(data)), PutOptions{SHA256: sum[:]}); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("short body: err = %v", err)
	}
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)-1), PutOptions{}); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("long body: err = %v", err)
	}
	if got := rawNames(t, f, "repo/data"); len(got) != 0 {
		t.Fatalf("bad uploads left %v on the remote", got)
	}
	if _, err := s.Lookup(ctx, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after bad uploads: %v", err)
	}
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum[:], NoOverwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got := rawNames(t, f, "repo/data"); !slices.Equal(got, []string{h.Name}) {
		t.Fatalf("remote holds %v, want the data object", got)
	}
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{NoOverwrite: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite in no-overwrite mode: %v", err)
	}
}

func TestConcurrentPutDeleteList(t *testing.T) {
	f := lagRemote(t, ",create_lag=300ms,delete_lag=300ms,jitter=200ms")
	s := newStore(t, f, Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				data := fmt.Sprintf("worker %d item %d", i, j)
				h, sum := obj(data)
				if err := s.Put(context.Background(), h, strings.NewReader(data), int64(len(data)), PutOptions{SHA256: sum}); err != nil {
					t.Error(err)
					return
				}
				if !slices.Contains(names(t, s, "repo", Locks), h.Name) {
					t.Errorf("%s missing from listing right after its write", h.Name)
				}
				if err := s.Remove(context.Background(), h); err != nil {
					t.Error(err)
					return
				}
				if slices.Contains(names(t, s, "repo", Locks), h.Name) {
					t.Errorf("%s listed right after its delete", h.Name)
				}
			}
		})
	}
	wg.Wait()
}

// config is in no listed folder: a lookup confirms it, and it must not
// wait for the settle window.
func TestConfigRecordRetiresByLookup(t *testing.T) {
	f := lagRemote(t, ",create_lag=300ms")
	s := newStore(t, f, Options{SettleWindow: time.Minute})
	for _, repo := range []string{"", "a/b"} {
		cfg := Handle{Repo: repo, Type: Config}
		if err := s.Put(context.Background(), cfg, strings.NewReader("config"), 6, PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "config records confirmed", 15*time.Second, func() bool { return s.Stats().Created == 0 })
	st := s.Stats()
	if st.Events[EventRetiredConfirmed] != 2 || st.Events[EventRetiredTimeout] != 0 {
		t.Fatalf("events: %v", st.Events)
	}
}

func TestSplitKey(t *testing.T) {
	id := strings.Repeat("ab", 32)
	for _, tc := range []struct{ key, dir string }{
		{"repo/data/ab/" + id, "repo/data"},
		{"data/ab/" + id, "data"},
		{"a/b/locks/" + id, "a/b/locks"},
		{"locks/" + id, "locks"},
	} {
		dir, name, ok := splitKey(tc.key)
		if !ok || dir != tc.dir || name != id {
			t.Errorf("splitKey(%q) = %q, %q, %v; want %q", tc.key, dir, name, ok, tc.dir)
		}
	}
	for key, dir := range map[string]string{"config": "", "a/b/config": "a/b"} {
		if d, name, ok := splitKey(key); !ok || d != dir || name != "config" {
			t.Errorf("splitKey(%q) = %q, %q, %v", key, d, name, ok)
		}
	}
	if _, _, ok := splitKey("repo/locks/notanid"); ok {
		t.Error("splitKey accepted a name that is not an ID")
	}
}

// Within listCacheTTL a client's listing reuses the last remote listing,
// and the overlay keeps it correct for every write and delete through us;
// small objects the remote showed are read from it once.
func TestListingAndReadCacheStayCorrect(t *testing.T) {
	f := lagRemote(t, "")
	lf, _ := lagfs.FromFs(f)
	s := newStore(t, f, Options{})
	a, _ := obj("first lock")
	put(t, s, a, "first lock")
	names(t, s, "repo", Locks) // the one remote listing
	lists := lf.Stats().List + lf.Stats().ListR

	b, _ := obj("second lock")
	put(t, s, b, "second lock")
	if err := s.Remove(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s, "repo", Locks); !slices.Equal(got, []string{b.Name}) {
		t.Fatalf("cached listing after a write and a delete: %v, want [%s]", got, b.Name)
	}
	if n := lf.Stats().List + lf.Stats().ListR; n != lists {
		t.Errorf("listing inside the TTL went to the remote (%d calls, want %d)", n, lists)
	}

	// An object only the remote knows (written before this store existed).
	s2 := newStore(t, f, Options{})
	opens := lf.Stats().Open
	for range 3 {
		if got, err := read(t, s2, b); err != nil || got != "second lock" {
			t.Fatalf("read: %q, %v", got, err)
		}
	}
	if n := lf.Stats().Open - opens; n != 1 {
		t.Errorf("3 reads of a small object opened it %d times on the remote, want 1", n)
	}
}
