package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// sharedStores opens n Stores over f sharing one overlay in srv.
func sharedStores(t *testing.T, srv *redistest.Server, f fs.Fs, n int, opt Options) []*Store {
	t.Helper()
	opt.Shared = srv.URL()
	if opt.readRetry == 0 {
		opt.readRetry = time.Millisecond // reads must come from the overlay, not from waiting out the lag
	}
	out := make([]*Store, n)
	for i := range out {
		out[i] = newStore(t, f, opt)
	}
	return out
}

func shared(s *Store) *sharedRecords { return s.ov.(*sharedRecords) }

// Two instances over one lagging remote keep the contract for each other:
// a lock written through A is read (its bytes come from Redis: B never saw
// them and the remote hides the object) and listed through B at once, and
// a delete through B hides it from A while the remote still lists it.
func TestSharedOverlayAcrossInstances(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	f := testutil.LagFs(t, "create_lag=1h,delete_lag=1h")
	st := sharedStores(t, srv, f, 2, Options{})
	a, b := st[0], st[1]
	sharedView(t, a, b)
	if !a.Stats().Shared {
		t.Fatal("Stats().Shared is false with --shared")
	}
	// The reap (the remote refused the fresh upload's removal) is pending
	// in the shared records, visible from both.
	if ca, cb := a.Stats().PendingReaps, b.Stats().PendingReaps; ca != 1 || cb != 1 {
		t.Fatalf("pending reaps seen by A and B = %d, %d, want 1 and 1", ca, cb)
	}
}

// Exactly one instance holds the background lease, and hands it on at
// once when it closes.
func TestSharedOverlayOneLeader(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	f := testutil.LagFs(t)
	st := sharedStores(t, srv, f, 3, Options{})
	leaders := func() (n int, who *Store) {
		for _, s := range st {
			if s.Stats().Leader {
				n++
				who = s
			}
		}
		return n, who
	}
	testutil.Eventually(t, "a leader", 5*time.Second, func() bool { n, _ := leaders(); return n == 1 })
	// Several rounds later there is still exactly one.
	time.Sleep(3 * tick)
	n, old := leaders()
	if n != 1 {
		t.Fatalf("%d leaders, want 1", n)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "a new leader", 5*time.Second, func() bool {
		n, who := leaders()
		return n == 1 && who != old
	})
}

// A Put and a Remove of one name through two instances never interleave:
// the name's lease holds the second until the first is done.
func TestSharedLeaseOrdersOneName(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	f := testutil.LagFs(t)
	st := sharedStores(t, srv, f, 2, Options{})
	oa, ob := shared(st[0]), shared(st[1])
	ctx := context.Background()
	unlock, err := oa.lock(ctx, keyIn("repo/locks", "x"))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := ob.lock(short, keyIn("repo/locks", "x")); err == nil {
		t.Fatal("B took a lease A holds")
	}
	if st[0].Stats().LeasesHeld != 1 {
		t.Fatalf("A holds %d leases, want 1", st[0].Stats().LeasesHeld)
	}
	got := make(chan error, 1)
	go func() {
		u, err := ob.lock(ctx, keyIn("repo/locks", "x"))
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B did not get the lease after A released it")
	}
}

// Redis out of reach: requests fail with a RemoteError (503, restic
// retries) and readiness fails, rather than answering from a view that
// lacks the other instances' records; both recover by themselves when
// Redis returns, with the records kept (append-only persistence).
func TestSharedOverlayRedisDown(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	f := testutil.LagFs(t, "create_lag=1h")
	s := sharedStores(t, srv, f, 1, Options{})[0]
	h, _ := obj("before the outage")
	put(t, s, h, "before the outage")

	srv.Stop()
	ctx := context.Background()
	h2, _ := obj("during the outage")
	var re *RemoteError
	if err := s.Put(ctx, h2, strings.NewReader("during the outage"), 17, PutOptions{}); !errors.As(err, &re) {
		t.Fatalf("Put with Redis down: %v, want a RemoteError", err)
	}
	if _, err := s.Lookup(ctx, h); !errors.As(err, &re) {
		t.Fatalf("Lookup with Redis down: %v, want a RemoteError", err)
	}
	if _, err := s.List(ctx, "repo", Locks); !errors.As(err, &re) {
		t.Fatalf("List with Redis down: %v, want a RemoteError", err)
	}
	if err := s.Remove(ctx, h); !errors.As(err, &re) {
		t.Fatalf("Remove with Redis down: %v, want a RemoteError", err)
	}
	if err := s.Ready(ctx); err == nil {
		t.Fatal("Ready with Redis down")
	}
	if _, err := s.List(ctx, "repo", Locks); !errors.Is(err, ErrOverlayUnavailable) {
		t.Fatalf("List with Redis down: %v, want ErrOverlayUnavailable (its reason is told to clients)", err)
	}

	srv.Restart()
	testutil.Eventually(t, "ready again", 10*time.Second, func() bool { return s.Ready(ctx) == nil })
	if got, err := read(t, s, h); err != nil || got != "before the outage" {
		t.Fatalf("read after Redis returned: %q, %v", got, err)
	}
	if s.Stats().Events[EventSharedLost] != 0 {
		t.Fatal("a restart with persistence was counted as a loss")
	}
}

// Redis restarted without persistence lost the records: the marker's
// disappearance is noticed, logged and counted.
func TestSharedOverlayLossIsDetected(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := sharedStores(t, srv, testutil.LagFs(t), 1, Options{})[0]
	ctx := context.Background()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	before := shared(s).id()
	srv.Stop()
	srv.Restart()
	testutil.Eventually(t, "the loss counted", 10*time.Second, func() bool { return s.Stats().Events[EventSharedLost] == 1 })
	if after := shared(s).id(); after == before || after == "" {
		t.Fatalf("marker id %q after the loss, was %q", after, before)
	}
}

// An instance that died between preparing a delete and publishing it
// (its lease lapsed) leaves an intent the background leader publishes as
// a pending reap, so the delete it may have carried out still holds.
func TestSharedPreparedDeleteOfDeadInstanceIsPublished(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	f := testutil.LagFs(t)
	s := sharedStores(t, srv, f, 1, Options{})[0]
	ctx := context.Background()
	h, _ := obj("deleted by a dead instance")
	key := h.key()
	ts := record{kind: tombstone, key: key, at: time.Now().Add(-2 * leaseTTL), reap: true}
	if err := shared(s).prepareDelete(ctx, ts); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the intent published", 10*time.Second, func() bool {
		r, ok, err := shared(s).get(ctx, key)
		return err == nil && ok && r.kind == tombstone
	})
	if _, err := read(t, s, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after the recovered delete: %v, want not found", err)
	}
}

// Every key of a remote's records expires: Redis does not grow without
// bound when instances go away.
func TestSharedKeysExpire(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := sharedStores(t, srv, testutil.LagFs(t, "create_lag=1h"), 1, Options{SettleWindow: time.Minute})[0]
	h, _ := obj("expiring")
	put(t, s, h, "expiring")
	o := shared(s)
	ctx := context.Background()
	hash, _ := o.k.holder(h.key())
	for _, k := range append([]string{hash, o.k.data(h.remotePath())}, o.k.set(setCreated)) {
		ttl, err := o.rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > o.ttl {
			t.Errorf("%s: TTL %v, want within (0, %v]", k, ttl, o.ttl)
		}
	}
}

// The seam's contract test, run on Redis: the Store is unchanged.
func TestSharedRecordsAcrossStoresOnRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	f := testutil.LagFs(t, "create_lag=10s,delete_lag=10s")
	o, err := openSharedRecords(srv.URL(), fs.ConfigString(f), time.Minute, slog.Default(), nopObserver{}, func(string, int) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.close() })
	var wg sync.WaitGroup
	a := newStore(t, f, Options{records: o})
	b := newStore(t, f, Options{records: o, readRetry: time.Millisecond})
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, _ := obj(strings.Repeat("x", i+1))
			put(t, []*Store{a, b}[i%2], h, strings.Repeat("x", i+1))
		}()
	}
	wg.Wait()
	for _, s := range []*Store{a, b} {
		if got := names(t, s, "repo", Locks); len(got) != 20 {
			t.Fatalf("listing shows %d of 20 locks written through two stores", len(got))
		}
	}
}

func TestRecordEncoding(t *testing.T) {
	at := time.Now()
	for _, r := range []record{
		{kind: created, key: keyOf("repo/locks/" + strings.Repeat("a", 64)), size: 123, at: at},
		{kind: tombstone, key: keyOf("repo/data/ab/ab" + strings.Repeat("c", 62)), at: at, reap: true, nextTry: at.Add(time.Second), tries: 3},
		{kind: tombstone, key: keyOf("a/b/config"), at: at, removedAt: at.Add(time.Millisecond), confirmed: at.Add(time.Second)},
	} {
		got, err := decodeRecord(r.key, encodeRecord(r))
		if err != nil {
			t.Fatal(err)
		}
		if !r.unchanged(got) || got.size != r.size || got.tries != r.tries || !got.nextTry.Equal(r.nextTry) ||
			got.key != r.key || stampOf(got) != stampOf(r) {
			t.Fatalf("round trip of %+v gave %+v", r, got)
		}
	}
	if _, err := decodeRecord(keyOf("repo/locks/"+strings.Repeat("a", 64)), "x 1 0 0 0 0\n1 0 0"); err == nil {
		t.Fatal("an unknown kind decoded")
	}
	if _, err := decodeRecord(keyOf("repo/locks/"+strings.Repeat("a", 64)), "c 1 0"); err == nil {
		t.Fatal("a short record decoded")
	}
}

// TestSharedDueBatchKeepsTheBurst: a round that reads only the oldest
// records of a set (its batch) must not take the units it read for quiet
// while newer records, a burst still going on, wait unread: with Redis at
// 20k pending deletes, a prune's folders were proven twice, once during
// the burst and once after.
func TestSharedDueBatchKeepsTheBurst(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	o, err := openSharedRecords(srv.URL(), "remote", time.Hour, slog.Default(), nopObserver{}, func(string, int) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.close() })
	o.batch = 3
	now := time.Now()
	pack := func(folder string, i int) objectKey {
		return keyIn("repo/data", folder+hexName(fmt.Sprint(folder, i))[2:])
	}
	for i := range 4 {
		mustCreate(t, o, newRec(t, created, pack("aa", i), now.Add(-time.Minute+time.Duration(i)*time.Second)), nil)
	}
	newest := now.Add(-time.Second).Truncate(time.Millisecond)
	mustCreate(t, o, newRec(t, created, pack("bb", 0), newest), nil)
	w, err := o.due(context.Background(), now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := w.units["repo/data/aa"]
	if !ok {
		t.Fatalf("units %v: repo/data/aa missing", w.units)
	}
	if a.newest.Before(newest) {
		t.Errorf("repo/data/aa newest %v, want the unread record's %v: the folder looks quiet in a burst", a.newest, newest)
	}
	p := confirmPace{wait: confirmMinAge, maxDefer: time.Hour}
	if p.due(a, &confirmState{}, now) {
		t.Error("a folder is proven while newer records of the set wait unread")
	}
}
