package overlay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// flushAll empties Redis, as FLUSHALL or a restart without persistence does.
func flushAll(t *testing.T, srv *redistest.Server) {
	t.Helper()
	if err := redisClient(t, srv).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// A lock acknowledged inside its write-behind delay survives a flush of
// Redis: the instance that acknowledged it still holds its bytes, and
// publishes it again, so it is read, listed and uploaded as if nothing
// happened. A lock deleted before the flush stays deleted.
func TestFlushKeepsAcknowledgedDeferredLock(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	root := t.TempDir()
	s := newStore(t, localRemote(t, root), Options{Shared: srv.URL(), LockUploadDelay: 5 * time.Second})
	held := handleOf(Locks, "held by a running backup")
	put(t, s, held, "held by a running backup")
	gone := handleOf(Locks, "deleted before the flush")
	put(t, s, gone, "deleted before the flush")
	if err := s.Remove(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	flushAll(t, srv)

	testutil.Eventually(t, "the acknowledged lock to reach the remote", 30*time.Second, func() bool { return onDisk(root, held.remotePath()) })
	if got, err := read(t, s, held); err != nil || got != "held by a running backup" {
		t.Errorf("read of the lock after the flush: %q, %v", got, err)
	}
	if n := s.Stats().Events[EventLocksRepublished]; n != 1 {
		t.Errorf("republished locks counted = %d, want 1", n)
	}
	if onDisk(root, gone.remotePath()) {
		t.Error("a lock deleted before the flush was uploaded after it")
	}
	if _, err := s.Lookup(context.Background(), gone); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup of the lock deleted before the flush: %v, want ErrNotFound", err)
	}
}

// An uploaded lock the lagging remote does not show yet is published again
// too: without its record it would read 404 until the remote caught up.
func TestFlushKeepsAcknowledgedLockOnLaggingRemote(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	f := testutil.LagFs(t, "create_lag=1h")
	s := sharedStores(t, srv, f, 1, Options{})[0]
	lock := handleOf(Locks, "uploaded, not shown yet")
	put(t, s, lock, "uploaded, not shown yet")
	flushAll(t, srv)
	var got string
	var err error
	testutil.Eventually(t, "the lock to read again after the flush", 10*time.Second, func() bool {
		s.content.remove(lock.remotePath()) // the bytes must come from the overlay, as on another instance
		got, err = read(t, s, lock)
		return err == nil
	})
	if got != "uploaded, not shown yet" {
		t.Errorf("read of the lock after the flush: %q", got)
	}
}

// A lock deleted through another instance is not brought back by the one
// that acknowledged it: it learns of the delete before any flush.
func TestFlushDoesNotBringBackLockDeletedElsewhere(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	root := t.TempDir()
	st := sharedStores(t, srv, localRemote(t, root), 2, Options{LockUploadDelay: 5 * time.Second})
	a, b := st[0], st[1]
	lock := handleOf(Locks, "deleted through B")
	put(t, a, lock, "deleted through B")
	if err := b.Remove(context.Background(), lock); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "A to forget the lock B deleted", 10*time.Second, func() bool { return shared(a).acked.len() == 0 })
	flushAll(t, srv)
	time.Sleep(8 * time.Second) // past the upload delay: a republished lock would be uploaded
	if onDisk(root, lock.remotePath()) {
		t.Error("a lock deleted through another instance was uploaded after the flush")
	}
	if _, err := a.Lookup(context.Background(), lock); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup through A: %v, want ErrNotFound", err)
	}
}
