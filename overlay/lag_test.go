package overlay

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

	"github.com/steadyrest/steadyrest/internal/testutil"
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
// commands does: each lists locks/ after writing its own (restic's check
// for other locks). Then it waits until the store's own background
// confirmed them all.
func lockStream(t *testing.T, s *Store, n int, gap time.Duration) { lockWrites(t, s, n, gap, true) }

// lockWrites is lockStream, listing locks/ after each write or not.
func lockWrites(t *testing.T, s *Store, n int, gap time.Duration, list bool) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		data := []byte(fmt.Sprintf("lock %d", i))
		h, sum := obj(string(data))
		if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum}); err != nil {
			t.Fatalf("Put(%s): %v", h, err)
		}
		if list {
			if got := names(t, s, "repo", Locks); len(got) != i+1 {
				t.Fatalf("locks/ lists %d locks, want %d", len(got), i+1)
			}
		}
		time.Sleep(gap)
	}
	testutil.Eventually(t, "the confirmer to confirm every lock", time.Minute, func() bool {
		return s.ov.counts().created == 0
	})
}

// TestVisibilityLagMeasuresTheRemote: the lag the store reports is the
// remote's, not the confirmer's schedule. Over the real lag backend with
// no lag and with a 3 s create lag, a stream of restic commands (a lock
// written, locks/ listed) whose last locks only the store's own
// background confirms (once locks/ is quiet, after 5 s) reads under 0.5 s
// and 3 ± 0.5 s. Before, both read the confirmer's ~5 s; with the
// confirmer batching, the locks it alone saw read half its wait (2.7 s on
// no lag).
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
			c := &countingFs{Fs: testutil.LagFs(t, tc.opts)}
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

// TestVisibilityLagNotTheSchedule: writes no client lists, on a remote
// with no lag, are seen first by the confirmer's batched look, 5 s after
// the last: that tells only that the lag is under 5 s, and nothing is
// reported rather than half the confirmer's wait. Before: 14 lags of
// 2.7 s on a remote with none.
func TestVisibilityLagNotTheSchedule(t *testing.T) {
	o := &lagRecorder{}
	s := newStore(t, testutil.LagFs(t, ""), Options{Observer: o})
	lockWrites(t, s, 14, 100*time.Millisecond, false)
	for _, lag := range o.take(VisibleCreate) {
		if lag > 500*time.Millisecond {
			t.Errorf("create lag %v reported on a remote with no lag (all: %v)", lag, o.take(VisibleCreate))
			break
		}
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
	s := newStore(t, testutil.LagFs(t, "delete_lag=1h"), Options{})
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

// TestLagStateEstimate: the estimate is the middle between the latest
// miss and the first hit, narrowed by other records' recent ages.
func TestLagStateEstimate(t *testing.T) {
	t0 := time.Now()
	sec := func(f float64) time.Time { return t0.Add(time.Duration(f * float64(time.Second))) }
	rec := func(name string, at time.Time) record {
		return record{kind: created, key: keyIn("repo/locks", name), size: 1, at: at}
	}
	t.Run("own interval", func(t *testing.T) {
		var l lagState
		r := rec(name('a'), t0)
		l.observe(&r, false, 0, sec(1))
		l.observe(&r, false, 0, sec(2))  // the latest miss counts
		l.observe(&r, true, 2, sec(2.5)) // another size: still a miss
		l.observe(&r, true, 1, sec(4))
		l.observe(&r, true, 1, sec(6)) // the first hit counts
		if lag, ok := l.settle(&r, sec(7), false); ok {
			t.Errorf("lag %v reported, bracketed only within 1.5 s", lag)
		}
		// Nothing narrows it: dropped once old, never reported as the
		// middle of an interval wider than lagReported.
		if got := l.release(sec(7).Add(lagHold + time.Second)); len(got) != 0 {
			t.Errorf("released %+v, want none (bracketed only within 1.5 s)", got)
		}
		if len(l.held) != 0 {
			t.Errorf("%d samples still held past lagHold", len(l.held))
		}
	})
	t.Run("narrowed by others", func(t *testing.T) {
		var l lagState
		old, young := rec(name('a'), t0), rec(name('b'), sec(2))
		// One listing at 5 s shows the old record (age 5) and misses the
		// young one (age 3): the lag is over 3 s.
		l.observe(&old, true, 1, sec(5))
		l.observe(&young, false, 0, sec(5))
		if lag, ok := l.settle(&old, sec(5), false); ok {
			t.Errorf("lag %v reported, bracketed only within 2 s", lag)
		}
		// A probe then hits a third record at 3.6 s: (3, 3.6].
		probed := rec(name('c'), sec(5))
		l.observe(&probed, true, 1, sec(8.6))
		if got := l.release(sec(9)); len(got) != 1 || got[0].lag != 3300*time.Millisecond {
			t.Errorf("released %+v, want 3.3s (between 3 s and 3.6 s)", got)
		}
	})
	t.Run("unobserved", func(t *testing.T) {
		var l lagState
		r := rec(name('a'), t0)
		if lag, ok := l.settle(&r, sec(0.8), false); !ok || lag != 400*time.Millisecond {
			t.Errorf("lag %v %v, want 0.4s (confirmed elsewhere by 0.8 s)", lag, ok)
		}
		r.key = keyIn("repo/locks", name('b'))
		if lag, ok := l.settle(&r, sec(2), false); ok {
			t.Errorf("lag %v reported for a record first seen at 2 s: only an upper bound, half of it the schedule's", lag)
		}
		if lag, ok := l.settle(&r, sec(2), true); !ok || lag != 0 {
			t.Errorf("a remote that serves at once: lag %v %v, want 0", lag, ok)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		var l lagState
		for i := range maxLagTracked + 10 {
			r := rec(fmt.Sprintf("%064x", i), t0.Add(time.Duration(i)))
			l.observe(&r, false, 0, sec(1))
		}
		if n := len(l.tracks); n > maxLagTracked {
			t.Errorf("%d records tracked, want at most %d", n, maxLagTracked)
		}
	})
}

// TestRemoveNotFoundIsALagMiss: a delete of a fresh upload that the
// remote does not show yet is an observation of its lag (a miss).
func TestRemoveNotFoundIsALagMiss(t *testing.T) {
	s := newStore(t, testutil.LagFs(t, "create_lag=1h"), Options{})
	ctx := context.Background()
	h, sum := obj("fresh")
	if err := s.Put(ctx, h, bytes.NewReader([]byte("fresh")), 5, PutOptions{SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, h); err != nil {
		t.Fatal(err)
	}
	s.lag.mu.Lock()
	defer s.lag.mu.Unlock()
	if b := s.lag.bounds[VisibleCreate]; b == nil || len(b.misses) != 1 {
		t.Errorf("the not-found delete was not taken as a miss: %+v", b)
	}
	if len(s.lag.tracks) != 0 {
		t.Errorf("the deleted write is still tracked: %v", s.lag.tracks)
	}
}

// TestLagProbe: the confirmer probes a kind's lag only while recent
// misses and hits do not bracket it within lagResolution, at the middle
// of what is known, and only a unit whose newest record of that kind is
// about that old.
func TestLagProbe(t *testing.T) {
	t0 := time.Now()
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	rec := func(c byte, at time.Time) record {
		return record{kind: created, key: keyIn("repo/locks", name(c)), size: 1, at: at}
	}
	var l lagState
	if age, ok := l.probe(VisibleCreate, t0, confirmMinAge); !ok || age != sec(2.5) {
		t.Errorf("nothing known: probe %v %v, want at 2.5 s (half the regular wait)", age, ok)
	}
	a, b := rec('a', t0), rec('b', t0)
	l.observe(&a, false, 0, t0.Add(sec(2.5))) // a miss at 2.5 s
	if age, ok := l.probe(VisibleCreate, t0.Add(sec(3)), confirmMinAge); !ok || age != sec(3.75) {
		t.Errorf("a miss at 2.5 s: probe %v %v, want at 3.75 s", age, ok)
	}
	l.observe(&b, true, 1, t0.Add(sec(2.9))) // a hit at 2.9 s
	if age, ok := l.probe(VisibleCreate, t0.Add(sec(3)), confirmMinAge); ok {
		t.Errorf("bracketed within 0.4 s: probe at %v, want none", age)
	}
	if _, ok := l.probe(VisibleCreate, t0.Add(lagEvidence+sec(3)), confirmMinAge); !ok {
		t.Error("evidence older than lagEvidence still stops probes")
	}
	var none lagState
	c := rec('c', t0)
	none.observe(&c, true, 1, t0.Add(sec(0.3))) // no lag: a hit at once
	if age, ok := none.probe(VisibleCreate, t0.Add(sec(1)), confirmMinAge); ok {
		t.Errorf("a hit at 0.3 s: probe at %v, want none", age)
	}

	now := t0.Add(sec(10))
	probes := map[recKind]time.Duration{created: sec(2.5)}
	unit := func(newest time.Duration) unitActivity {
		var a unitActivity
		a.newestOf[created] = now.Add(-newest)
		return a
	}
	for _, c := range []struct {
		newest time.Duration
		want   bool
	}{{sec(1), false}, {sec(2.6), true}, {sec(4), false}} {
		if kind, got := probeDue(unit(c.newest), now, probes); got != c.want || got && kind != created {
			t.Errorf("newest create %v old, probe at 2.5 s: probeDue %v %v, want %v", c.newest, kind, got, c.want)
		}
	}
	// Each kind is probed at its own age: a unit whose newest delete is
	// as old as the delete probe's age is due for deletes, whatever its
	// creates' ages.
	probes[tombstone] = sec(1)
	act := unit(sec(4))
	act.newestOf[tombstone] = now.Add(-sec(1.2))
	if kind, ok := probeDue(act, now, probes); !ok || kind != tombstone {
		t.Errorf("newest delete 1.2 s old, delete probe at 1 s: probeDue %v %v, want tombstone", kind, ok)
	}
}

// TestLagBoundsKeepWhatTells: a listing of a busy folder, many old
// changes shown, does not push out the young hit and the old miss that
// bracket the lag; evidence past lagEvidence goes first.
func TestLagBoundsKeepWhatTells(t *testing.T) {
	t0 := time.Now()
	var b lagBounds
	b.hits = keepRecent(b.hits, lagAge{at: t0, age: 3 * time.Second}, longer)
	b.misses = keepRecent(b.misses, lagAge{at: t0, age: 2900 * time.Millisecond}, shorter)
	for i := range 10 * lagEvidenceKept {
		b.hits = keepRecent(b.hits, lagAge{at: t0.Add(time.Duration(i)), age: time.Minute}, longer)
		b.misses = keepRecent(b.misses, lagAge{at: t0.Add(time.Duration(i)), age: time.Millisecond}, shorter)
	}
	lo, _, hi, _ := b.window(t0.Add(-time.Second))
	if lo != 2900*time.Millisecond || hi != 3*time.Second || len(b.hits) > lagEvidenceKept || len(b.misses) > lagEvidenceKept {
		t.Errorf("bounds (%v, %v] from %d hits and %d misses, want (2.9s, 3s] from at most %d each", lo, hi, len(b.hits), len(b.misses), lagEvidenceKept)
	}
	later := t0.Add(lagEvidence + time.Second)
	for range lagEvidenceKept {
		b.hits = keepRecent(b.hits, lagAge{at: later, age: time.Minute}, longer)
	}
	if _, _, hi, _ := b.window(later.Add(-lagEvidence)); hi != time.Minute {
		t.Errorf("a hit older than lagEvidence kept: hi %v", hi)
	}
}
