package cache

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

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
