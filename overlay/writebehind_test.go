package overlay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/fserrors"

	"github.com/steadyrest/steadyrest/internal/lagfs"
	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// A lock written and deleted within the delay never reaches the remote:
// the lag backend sees no call at all, while the lock is read and listed
// in between like any other.
func TestDeferredLockDeletedBeforeUploadCostsNothing(t *testing.T) {
	f, dir := testutil.LagRemote(t)
	s := newStore(t, f, Options{LockUploadDelay: time.Hour, StateDir: t.TempDir()})
	lf := f.(*lagfs.Fs)
	lf.ResetStats()
	h, _ := obj("a short-lived lock")
	put(t, s, h, "a short-lived lock")
	if got, err := read(t, s, h); err != nil || got != "a short-lived lock" {
		t.Fatalf("read of a deferred lock: %q, %v", got, err)
	}
	lf.ResetStats() // the listing below may call the remote, as restic's would
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if st := lf.Stats(); st.Calls() != 0 {
		t.Fatalf("deleting a deferred lock made remote calls: %+v", st)
	}
	if _, err := read(t, s, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	if got := names(t, s, "repo", Locks); len(got) != 0 {
		t.Fatalf("listing after delete: %v", got)
	}
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("the remote holds %v", files)
	}
	if ev := s.Stats().Events; ev[EventLockDeferred] != 1 || ev[EventLockNeverUploaded] != 1 {
		t.Fatalf("events %v", ev)
	}
}

// A lock that outlives the delay is uploaded, once, and then behaves like
// any lock: a delete removes it from the remote.
func TestDeferredLockIsUploadedAfterDelay(t *testing.T) {
	f, dir := testutil.LagRemote(t)
	s := newStore(t, f, Options{LockUploadDelay: 300 * time.Millisecond})
	h, _ := obj("a long command's lock")
	put(t, s, h, "a long command's lock")
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("the remote holds %v before the delay", files)
	}
	testutil.Eventually(t, "the lock uploaded", 5*time.Second, func() bool { return len(testutil.FilesBelow(t, dir)) == 1 })
	if got := rawNames(t, f, "repo/locks"); !slices.Equal(got, []string{h.Name}) {
		t.Fatalf("remote locks/ = %v", got)
	}
	if r, _, _ := mem(s).get(context.Background(), h.key()); r.deferred {
		t.Fatal("record still deferred after the upload")
	}
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("the remote still holds %v after the delete", files)
	}
}

// ackThenRestart acknowledges a lock written behind through a store on
// state and closes that store before any upload, which leaves the journal
// as a crash would; it returns the lock's handle for the next start.
func ackThenRestart(t *testing.T, f fs.Fs, state, data string) Handle {
	t.Helper()
	s, err := New(f, Options{LockUploadDelay: time.Hour, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := obj(data)
	put(t, s, h, data)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return h
}

// A crash between the acknowledgement and the upload loses nothing: the
// journal brings the lock back, with its bytes, and the next start
// uploads it.
func TestDeferredLockSurvivesRestart(t *testing.T) {
	f, dir := testutil.LagRemote(t)
	state := t.TempDir()
	h := ackThenRestart(t, f, state, "acknowledged, then a crash")
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("the remote holds %v", files)
	}
	// No content cache: the journal's bytes must serve the read.
	s2 := newStore(t, f, Options{LockUploadDelay: 100 * time.Millisecond, StateDir: state, ContentCacheBytes: -1})
	if got, err := read(t, s2, h); err != nil || got != "acknowledged, then a crash" {
		t.Fatalf("read after restart: %q, %v", got, err)
	}
	testutil.Eventually(t, "the lock uploaded after restart", 5*time.Second, func() bool { return len(testutil.FilesBelow(t, dir)) == 1 })
}

// Shared: a deferred lock written through A is read and listed through B,
// deleted through B without a remote call, and one that stays is
// uploaded once by the background leader.
func TestDeferredLockAcrossInstances(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	f, dir := testutil.LagRemote(t)
	st := sharedStores(t, srv, f, 2, Options{LockUploadDelay: time.Second})
	a, b := st[0], st[1]
	lf := f.(*lagfs.Fs)

	short, _ := obj("short")
	put(t, a, short, "short")
	if got, err := read(t, b, short); err != nil || got != "short" {
		t.Fatalf("read through B: %q, %v", got, err)
	}
	lf.ResetStats()
	if err := b.Remove(context.Background(), short); err != nil {
		t.Fatal(err)
	}
	if st := lf.Stats(); st.Calls() != 0 {
		t.Fatalf("deleting a deferred lock through B made remote calls: %+v", st)
	}

	long, _ := obj("long")
	put(t, a, long, "long")
	if got := names(t, b, "repo", Locks); !slices.Equal(got, []string{long.Name}) {
		t.Fatalf("listing through B: %v", got)
	}
	testutil.Eventually(t, "the lock uploaded", 10*time.Second, func() bool { return len(testutil.FilesBelow(t, dir)) == 1 })
	time.Sleep(3 * tick)
	if st := lf.Stats(); st.Put != 1 {
		t.Fatalf("%d uploads of one deferred lock through two instances, want 1", st.Put)
	}
}

// A lock POSTed again under a name the remote already holds is written
// through, not behind: a delete right after must remove the remote's copy,
// which would otherwise come back when the tombstone retires.
func TestLockOverRemoteCopyIsWrittenThrough(t *testing.T) {
	f, dir := testutil.LagRemote(t)
	s := newStore(t, f, Options{LockUploadDelay: 200 * time.Millisecond})
	h, _ := obj("a lock posted twice")
	put(t, s, h, "a lock posted twice")
	testutil.Eventually(t, "the lock uploaded", 5*time.Second, func() bool { return len(testutil.FilesBelow(t, dir)) == 1 })
	testutil.Eventually(t, "the upload recorded", 5*time.Second, func() bool {
		r, _, _ := mem(s).get(context.Background(), h.key())
		return !r.deferred
	})
	put(t, s, h, "a lock posted twice")
	if r, _, _ := mem(s).get(context.Background(), h.key()); r.deferred {
		t.Fatal("a POST over the remote's copy was written behind")
	}
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("the remote still holds %v after the delete", files)
	}
}

// A deferred lock whose bytes are gone (a shared overlay that lost them)
// is not uploaded, stays visible, and is asked about again with backoff:
// logged once in a few background rounds, not at every round.
func TestDeferredLockWithoutBytesBacksOff(t *testing.T) {
	f, dir := testutil.LagRemote(t)
	logs := &logRecords{}
	s := newStore(t, f, Options{LockUploadDelay: 10 * time.Millisecond, Logger: slog.New(logs)})
	h, _ := obj("a lock whose bytes were lost")
	key := h.key()
	rec := record{kind: created, key: key, size: 27, at: time.Now(), deferred: true}
	if err := mem(s).create(context.Background(), rec, nil); err != nil {
		t.Fatal(err)
	}
	var r record
	testutil.Eventually(t, "a failed upload recorded", 5*time.Second, func() bool {
		r, _, _ = mem(s).get(context.Background(), key)
		return r.tries > 0
	})
	if wait := r.nextTry.Sub(r.at); wait < time.Second {
		t.Fatalf("next attempt %v after the lock, want a backoff of seconds", wait)
	}
	time.Sleep(3 * tick) // rounds that would each log without the backoff
	r, _, _ = mem(s).get(context.Background(), key)
	if got := logs.errors("bytes are gone"); len(got) != r.tries {
		t.Fatalf("logged %d times for %d attempts: %q", len(got), r.tries, got)
	}
	if got := names(t, s, "repo", Locks); !slices.Equal(got, []string{h.Name}) {
		t.Fatalf("locks/ = %v: the lock must stay visible", got)
	}
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("the remote holds %v", files)
	}
}

// lostAnswerRemote stores every upload and then answers it with an error,
// as a remote does whose answer is lost on the way back.
type lostAnswerRemote struct{ fs.Fs }

func (f *lostAnswerRemote) Put(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error) {
	if _, err := f.Fs.Put(ctx, in, src, options...); err != nil {
		return nil, err
	}
	return nil, fserrors.NoRetryError(errors.New("the upload's answer was lost"))
}

// A deferred lock whose upload stored a copy but failed to say so is
// deleted by the client: the overlay's records say the remote never got
// it, the remote says otherwise. The first listing that shows the copy
// turns the tombstone into a reap, and the reaper removes the copy; it
// used to stay hidden until the settle window and then come back.
func TestDeferredLockCopyFromFailedUploadIsReaped(t *testing.T) {
	inner, dir := testutil.LagRemote(t)
	f := &lostAnswerRemote{Fs: inner}
	s := newStore(t, f, Options{LockUploadDelay: 100 * time.Millisecond})
	h, _ := obj("an upload whose answer was lost")
	put(t, s, h, "an upload whose answer was lost")
	testutil.Eventually(t, "the failed upload recorded", 5*time.Second, func() bool {
		r, _, _ := mem(s).get(context.Background(), h.key())
		return r.tries > 0
	})
	if files := testutil.FilesBelow(t, dir); len(files) != 1 {
		t.Fatalf("the remote holds %v, want the copy of the failed upload", files)
	}
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s, "repo", Locks); len(got) != 0 {
		t.Fatalf("listing after the delete: %v", got)
	}
	testutil.Eventually(t, "the copy removed from the remote", 5*time.Second, func() bool { return len(testutil.FilesBelow(t, dir)) == 0 })
	if _, err := read(t, s, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after the delete: %v", err)
	}
}

// A lock written and deleted within the delay costs no listing either:
// its tombstone is confirmed at once (no upload was ever tried, so the
// remote has nothing to show), where the confirmer used to list locks/
// after every restic command to retire it. The delete still sticks, and
// after a restart the lock is gone.
func TestDeferredLockDeletedBeforeUploadNeedsNoListing(t *testing.T) {
	f, _ := testutil.LagRemote(t)
	state := t.TempDir()
	s, err := New(f, Options{LockUploadDelay: time.Hour, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	lf := f.(*lagfs.Fs)
	h, _ := obj("a lock of a short command")
	put(t, s, h, "a lock of a short command")
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	lf.ResetStats()
	// A round late enough for the confirmer to take the tombstone.
	s.runDue(context.Background(), time.Now().Add(confirmMinAge+time.Second))
	if st := lf.Stats(); st.Calls() != 0 {
		t.Fatalf("the background spent remote calls on a lock the remote never got: %+v", st)
	}
	if st := s.Stats(); st.Tombstones != 0 || st.Created != 0 {
		t.Fatalf("pending records after the delete: %+v", st)
	}
	if _, err := read(t, s, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after the delete: %v", err)
	}
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatalf("repeated delete: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, f, Options{LockUploadDelay: time.Hour, StateDir: state})
	if got := names(t, s2, "repo", Locks); len(got) != 0 {
		t.Fatalf("after a restart locks/ lists %v", got)
	}
	if st := s2.Stats(); st.Tombstones+st.Created != 0 {
		t.Fatalf("records after a restart: %+v", st)
	}
}

// A deferred lock reloaded after a restart may have been uploaded by the
// crashed process without its journal saying so: its delete is confirmed
// by a listing, as before, not at once.
func TestReloadedDeferredLockDeleteWaitsForAListing(t *testing.T) {
	f, _ := testutil.LagRemote(t)
	state := t.TempDir()
	h := ackThenRestart(t, f, state, "acknowledged before a restart")
	s := newStore(t, f, Options{LockUploadDelay: time.Hour, StateDir: state})
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Tombstones != 1 {
		t.Fatalf("pending tombstones after deleting a reloaded deferred lock: %d, want 1 (%+v)", st.Tombstones, st)
	}
	lf := f.(*lagfs.Fs)
	lf.ResetStats()
	s.runDue(context.Background(), time.Now().Add(confirmMinAge+time.Second))
	if st := lf.Stats(); st.List+st.ListR != 1 {
		t.Fatalf("confirming the delete: %+v, want one listing", st)
	}
	if st := s.Stats(); st.Tombstones != 0 {
		t.Fatalf("the listing did not confirm the delete: %+v", st)
	}
}
