package cache

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
)

// lagRecorder is an Observer that keeps the visibility lags it is told.
type lagRecorder struct {
	nopObserver
	mu   sync.Mutex
	lags map[string][]time.Duration
}

func (o *lagRecorder) Visible(kind string, lag time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lags == nil {
		o.lags = map[string][]time.Duration{}
	}
	o.lags[kind] = append(o.lags[kind], lag)
}

func (o *lagRecorder) take(kind string) []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.lags[kind]...)
}

// lockStream writes n locks through s, one every gap, as a run of restic
// commands does, and waits until the store's own background confirmed
// them all.
func lockStream(t *testing.T, s *Store, n int, gap time.Duration) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		data := []byte(fmt.Sprintf("lock %d", i))
		h, sum := obj(string(data))
		if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum}); err != nil {
			t.Fatalf("Put(%s): %v", h, err)
		}
		time.Sleep(gap)
	}
	waitFor(t, "the confirmer to confirm every lock", time.Minute, func() bool {
		return s.ov.counts().created == 0
	})
}

// TestVisibilityLagMeasuresTheRemote: the lag the store reports is the
// remote's, not the confirmer's schedule. Over the real lag backend with
// no lag and with a 3 s create lag, a stream of locks confirmed by the
// store's own background (first look after confirmMinAge, 5 s) reads
// under 0.5 s and 3 ± 0.5 s. Before, both read the confirmer's ~5 s.
func TestVisibilityLagMeasuresTheRemote(t *testing.T) {
	for _, tc := range []struct {
		opts     string
		lo, hi   time.Duration
		wantDesc string
	}{
		{"", 0, 500 * time.Millisecond, "under 0.5 s"},
		{",create_lag=3s", 2500 * time.Millisecond, 3500 * time.Millisecond, "3 ± 0.5 s"},
	} {
		t.Run("lag"+tc.opts, func(t *testing.T) {
			o := &lagRecorder{}
			c := &countingFs{Fs: lagRemote(t, tc.opts)}
			s := newStore(t, c, Options{Observer: o})
			lockStream(t, s, 14, 500*time.Millisecond)
			// The measurement makes no call: compare with the same run
			// before it (TestConfirmCost* pin the counts exactly).
			t.Logf("remote calls: %d listings, %d lookups", c.lists.Load(), c.stats.Load())
			lags := o.take(VisibleCreate)
			if len(lags) != 14 {
				t.Fatalf("%d create lags reported for 14 locks", len(lags))
			}
			for i, lag := range lags {
				if lag < tc.lo || lag > tc.hi {
					t.Errorf("lag %d: %v, want %s (all: %v)", i, lag, tc.wantDesc, lags)
				}
			}
			t.Logf("create lags: %v", lags)
		})
	}
}

// TestVisibilityLagLocalIsZero: rclone's local backend serves a write as
// soon as it is acknowledged, so its lag reads 0 even for a write the
// confirmer first looks at after 5 s.
func TestVisibilityLagLocalIsZero(t *testing.T) {
	f, err := fs.NewFs(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o := &lagRecorder{}
	s := newStore(t, f, Options{Observer: o})
	lockStream(t, s, 1, 0)
	if lags := o.take(VisibleCreate); len(lags) != 1 || lags[0] != 0 {
		t.Errorf("create lags %v, want [0]", lags)
	}
}

// TestStillListedCountsWhatAListingShowed: a delete the remote accepted
// is counted as still listed only once a listing showed the object after
// it, not while it merely waits for the confirmer's listing. Before, the
// page's count was every pending tombstone.
func TestStillListedCountsWhatAListingShowed(t *testing.T) {
	s := newStore(t, lagRemote(t, ",delete_lag=1h"), Options{})
	ctx := context.Background()
	h, sum := obj("lock to delete")
	data := []byte("lock to delete")
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, h); err != nil {
		t.Fatal(err)
	}
	stillListed := func() int {
		for _, rr := range s.RecordsByRepo() {
			if rr.Repo == "repo" {
				return rr.Tombstones
			}
		}
		return 0
	}
	if n := stillListed(); n != 0 {
		t.Errorf("before any listing: %d deletes still listed, want 0", n)
	}
	if _, _, err := s.listFresh(ctx, typeDir("repo", Locks)); err != nil {
		t.Fatal(err)
	}
	if n := stillListed(); n != 1 {
		t.Errorf("after a listing that showed it: %d deletes still listed, want 1", n)
	}
}

// failCounter counts the remote failures the store reports.
type failCounter struct {
	nopObserver
	mu    sync.Mutex
	fails []string
}

func (o *failCounter) RemoteFailed(op, kind string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fails = append(o.fails, op+" "+kind+": "+err.Error())
}

// TestWebDAVNotFoundIsTheLag: WebDAV answers 404 to the DELETE of a file
// it does not show yet (here: gone behind its back, as a lagging server
// behaves). That is the lag, not a transient failure: no remote failure
// is reported and nothing is logged at WARN. Before, rclone's webdav
// error was not taken for not-found: a "transient" failure on the status
// page.
func TestWebDAVNotFoundIsTheLag(t *testing.T) {
	f, _, dir := davRemote(t)
	var logs bytes.Buffer
	o := &failCounter{}
	s := newStore(t, f, Options{Observer: o, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	ctx := context.Background()
	h, sum := obj("fresh lock")
	data := []byte("fresh lock")
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, h.remotePath())); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, h); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	s.runDue(ctx, time.Now().Add(time.Minute)) // the reaper's retry
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.fails) > 0 {
		t.Errorf("not-found answers reported as remote failures: %q", o.fails)
	}
	if logs.Len() > 0 {
		t.Errorf("not-found answers logged at WARN or above:\n%s", logs.String())
	}
}
