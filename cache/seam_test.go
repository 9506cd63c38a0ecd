package cache

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

// sharedRecords stands in for a store shared by several instances (the
// Redis of the next issue): the records of one overlay, plus the bytes of
// small uploads, which the local overlay leaves to each Store's cache.
type sharedRecords struct {
	*overlay
	mu   sync.Mutex
	data map[string][]byte
}

func (s *sharedRecords) create(ctx context.Context, r record, data []byte) error {
	s.mu.Lock()
	s.data[r.key] = data
	s.mu.Unlock()
	r.obj = nil // a shared store holds no handles of one instance's uploads
	return s.overlay.create(ctx, r, data)
}

func (s *sharedRecords) content(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.data[key]
	return b, ok, nil
}

func (s *sharedRecords) close() error { return nil } // shared: the test closes it

// Two Stores over one lagging remote, sharing their records through the
// seam, keep the contract for each other with no change to the Store: a
// write through A is read and listed through B at once, and a delete
// through B hides the object from A.
func TestSharedRecordsAcrossStores(t *testing.T) {
	o, err := openOverlay("", "", slog.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	shared := &sharedRecords{overlay: o, data: map[string][]byte{}}
	t.Cleanup(func() { o.close() })
	f := lagRemote(t, ",create_lag=10s,delete_lag=10s")
	a := newStore(t, f, Options{records: shared})
	b := newStore(t, f, Options{records: shared, ContentCacheBytes: 1 << 20, readRetry: 1})

	sharedView(t, a, b)
}

// sharedView checks that Stores a and b, sharing their records, keep the
// contract for each other: a lock written through a is read and listed
// through b at once, and a delete through b hides it from a, while the
// remote lags both ways. It returns the lock.
func sharedView(t *testing.T, a, b *Store) Handle {
	t.Helper()
	h, _ := obj("shared lock")
	put(t, a, h, "shared lock")
	if got, err := read(t, b, h); err != nil || got != "shared lock" {
		t.Fatalf("read through B of a write through A: %q, %v", got, err)
	}
	if got := names(t, b, "repo", Locks); !slices.Equal(got, []string{h.Name}) {
		t.Fatalf("listing through B = %v, want the lock written through A", got)
	}
	if err := b.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, a, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read through A of an object deleted through B: %v, want not found", err)
	}
	if got := names(t, a, "repo", Locks); len(got) != 0 {
		t.Fatalf("listing through A after a delete through B = %v", got)
	}
	return h
}
