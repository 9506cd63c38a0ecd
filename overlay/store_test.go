package overlay

import (
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

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// mem is the store's in-memory overlay, for tests that plant records.
func mem(s *Store) *localRecords { return s.ov.(*localRecords) }

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

func TestReadYourWritesOnLaggingRemote(t *testing.T) {
	f := testutil.LagFs(t, "create_lag=1500ms,delete_lag=1500ms")
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
	testutil.Eventually(t, "confirmation", 15*time.Second, func() bool {
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

func TestConcurrentPutDeleteList(t *testing.T) {
	f := testutil.LagFs(t, "create_lag=300ms,delete_lag=300ms,jitter=200ms")
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

func TestParseKey(t *testing.T) {
	id := strings.Repeat("ab", 32)
	for _, tc := range []struct{ key, dir string }{
		{"repo/data/ab/" + id, "repo/data"},
		{"data/ab/" + id, "data"},
		{"a/b/locks/" + id, "a/b/locks"},
		{"locks/" + id, "locks"},
	} {
		k, ok := parseKey(tc.key)
		if !ok || k.path != tc.key || k.dir != tc.dir || k.name != id {
			t.Errorf("parseKey(%q) = %+v, %v; want dir %q", tc.key, k, ok, tc.dir)
		}
	}
	for key, dir := range map[string]string{"config": "", "a/b/config": "a/b"} {
		if k, ok := parseKey(key); !ok || k.path != key || k.dir != dir || k.name != "config" {
			t.Errorf("parseKey(%q) = %+v, %v", key, k, ok)
		}
	}
	if _, ok := parseKey("repo/locks/notanid"); ok {
		t.Error("parseKey accepted a name that is not an ID")
	}
}
