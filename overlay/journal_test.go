package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	bolt "go.etcd.io/bbolt"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

func TestRestartKeepsRecords(t *testing.T) {
	f := testutil.LagFs(t, "create_lag=2s,delete_lag=2s")
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
	testutil.Eventually(t, "reap after restart", 8*time.Second, func() bool { return s2.Stats().Events[EventReapDone] == 1 })
}

func TestJournalIsPerRemote(t *testing.T) {
	state := t.TempDir()
	f1 := testutil.LagFs(t, "create_lag=1h")
	s1, err := New(f1, Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := obj("on the first remote")
	put(t, s1, h, "on the first remote")
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, testutil.LagFs(t), Options{StateDir: state})
	if st := s2.Stats(); st.Created != 0 {
		t.Fatalf("another remote's records were applied: %+v", st)
	}
	if _, err := s2.Lookup(context.Background(), h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup on the second remote: %v", err)
	}
}

func TestJournalLockedByAnotherInstance(t *testing.T) {
	f := testutil.LagFs(t)
	state := t.TempDir()
	newStore(t, f, Options{StateDir: state})
	if _, err := New(f, Options{StateDir: state}); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second store on one journal: err = %v, want a locked error", err)
	}
}

// journalWithRecords leaves a journal in a new state folder holding a
// lock the remote never got (written behind, then the process stopped),
// and returns the folder, the remote and the lock.
func journalWithRecords(t *testing.T) (state string, f fs.Fs, h Handle) {
	t.Helper()
	state = t.TempDir()
	f = localRemote(t, t.TempDir())
	s, err := New(f, Options{StateDir: state, LockUploadDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h = handleOf(Locks, "acknowledged, not uploaded")
	put(t, s, h, "acknowledged, not uploaded")
	for i := range 50 { // more pages than the meta pages
		put(t, s, handleOf(Snapshots, fmt.Sprint("snapshot ", i)), fmt.Sprint("snapshot ", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return state, f, h
}

// A journal that is gone or empty while its marker says it existed is
// reported (ERROR, counted): its acknowledged records are lost, and the
// store does not pass the loss off as an empty overlay.
func TestJournalLossIsReported(t *testing.T) {
	for _, c := range []struct {
		name string
		harm func(path string) error
	}{
		{"truncated to 0 bytes", func(p string) error { return os.Truncate(p, 0) }},
		{"deleted", os.Remove},
	} {
		t.Run(c.name, func(t *testing.T) {
			state, f, h := journalWithRecords(t)
			if err := c.harm(filepath.Join(state, "overlay.db")); err != nil {
				t.Fatal(err)
			}
			logs := &logRecords{}
			s := newStore(t, f, Options{StateDir: state, Logger: slog.New(logs)})
			if n := s.Stats().Events[EventJournalLost]; n != 1 {
				t.Errorf("journal losses counted = %d, want 1", n)
			}
			if len(logs.errors("journal")) == 0 {
				t.Error("no ERROR said the journal was lost")
			}
			if _, err := s.Lookup(context.Background(), h); !errors.Is(err, ErrNotFound) {
				t.Fatalf("lookup of the lost lock: %v", err)
			}
			// Said once: the next start has a journal again.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := newStore(t, f, Options{StateDir: state})
			if n := s2.Stats().Events[EventJournalLost]; n != 0 {
				t.Errorf("journal losses counted at the next start = %d, want 0", n)
			}
		})
	}
}

// A new state folder is no loss.
func TestNewJournalIsNoLoss(t *testing.T) {
	logs := &logRecords{}
	s := newStore(t, localRemote(t, t.TempDir()), Options{StateDir: t.TempDir(), Logger: slog.New(logs)})
	if n := s.Stats().Events[EventJournalLost]; n != 0 || len(logs.errors("journal")) != 0 {
		t.Errorf("a new journal counted as lost (%d) or logged %v", n, logs.errors("journal"))
	}
}

// A journal whose pages are garbage is refused with an error that names
// the file and says what to do, instead of a Go panic: every page but the
// meta pages (the freelist among them), the data pages only, or the whole
// file.
func TestDamagedJournalIsRefused(t *testing.T) {
	page := os.Getpagesize()
	garble := func(b []byte, from, to int) {
		for i := from; i < to; i++ {
			b[i] = byte(i*7 + 13)
		}
	}
	for _, c := range []struct {
		name string
		harm func(b []byte, h Handle)
	}{
		{"all but the meta pages", func(b []byte, _ Handle) { garble(b, 2*page, len(b)) }},
		{"the pages that hold a record", func(b []byte, h Handle) {
			// Copy-on-write leaves stale copies in free pages: garble
			// every page holding the record, the live one among them.
			key := []byte(h.remotePath())
			for i := 2 * page; i < len(b); i += page {
				if bytes.Contains(b[i:i+page], key) {
					garble(b, i, i+page)
				}
			}
		}},
		{"the whole file", func(b []byte, _ Handle) { garble(b, 0, len(b)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			state, f, h := journalWithRecords(t)
			path := filepath.Join(state, "overlay.db")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 4*page {
				t.Fatalf("journal of %d bytes: too small to damage its data pages", len(b))
			}
			c.harm(b, h)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := New(f, Options{StateDir: state})
			if err == nil {
				s.Close()
				t.Fatal("a store opened on a damaged journal")
			}
			t.Log(err)
			for _, want := range []string{path, "damaged", "move it aside"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// A write nobody waits for (putLater) lands before every write queued
// after it: the last write of a key is what a restart finds, and close
// commits what is queued.
func TestJournalWritesInOrder(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir, "remote")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	failed := func(err error) { t.Errorf("putLater: %v", err) }
	for i := range 200 {
		key := fmt.Sprintf("repo/data/00/%d", i%10)
		j.putLater(key, journalRecord{Kind: "t", At: t0.Add(time.Duration(i))}, failed)
		if i%3 == 0 {
			if err := j.put(key, journalRecord{Kind: "c", At: t0.Add(time.Duration(i)), Size: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 10 {
		j.putLater(fmt.Sprintf("repo/data/00/%d", i), journalRecord{Kind: "t", At: t0.Add(time.Hour)}, failed)
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	if err := j.put("late", journalRecord{Kind: "c", At: t0}); err == nil {
		t.Error("a write after close succeeded")
	}
	j, err = openJournal(dir, "remote")
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	n := 0
	if err := j.load(func(key string, r journalRecord) error {
		n++
		if r.Kind != "t" || !r.At.Equal(t0.Add(time.Hour)) {
			t.Errorf("%s: %+v after restart, want the last write (a tombstone at +1h)", key, r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Errorf("%d records after restart, want 10", n)
	}
}

// Writes that share a commit do not share a failure: one that bbolt
// refuses (an empty key) fails alone, and the others are durable.
func TestJournalWriteFailsAlone(t *testing.T) {
	j, err := openJournal(t.TempDir(), "remote")
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	release := make(chan struct{})
	blocker := journalOp{fn: func(*bolt.Bucket) error { <-release; return nil }, done: make(chan error, 1)}
	if err := j.queue(blocker); err != nil {
		t.Fatal(err)
	}
	// Queued while the committer waits on the blocker: they commit
	// together, next.
	ops := map[string]journalOp{}
	for _, key := range []string{"repo/locks/a", "", "repo/locks/b"} {
		op := journalOp{fn: func(b *bolt.Bucket) error { return b.Put([]byte(key), []byte("{}")) }, done: make(chan error, 1)}
		ops[key] = op
		if err := j.queue(op); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	for key, op := range ops {
		err := <-op.done
		if (key == "") != (err != nil) {
			t.Errorf("write of %q: err %v", key, err)
		}
	}
	var keys []string
	if err := j.load(func(key string, _ journalRecord) error { keys = append(keys, key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"repo/locks/a", "repo/locks/b"}) {
		t.Errorf("journal holds %q, want the two good writes", keys)
	}
}
