package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

// The recordStore contract (seam.go), run against every implementation:
// the local one (memory and a bbolt journal) and the shared one (a real
// redis-server). A case sees only the interface; what an implementation
// may do differently (content of a created object, which the local one
// leaves to the Store's cache) the contract allows, and the case accepts.

// contractStore is one implementation under test: rs, and reopen, which
// closes rs and opens a new one over the same state (a restart; or, shared,
// another instance).
type contractStore struct {
	rs     recordStore
	reopen func(t *testing.T)
	// other is another instance over the same records (the local store,
	// one instance's, answers rs itself).
	other func(t *testing.T) recordStore
	// lose makes the state lose every record at once, as a Redis flushed
	// or restarted without persistence does; nil where that is no event
	// the store must detect (the local journal's loss is New's to report).
	lose func(t *testing.T)
}

// recordStores returns the implementations, each opening an empty store.
func recordStores(t *testing.T) map[string]func(t *testing.T) *contractStore {
	srv := redistest.Start(t, redistest.Options{})
	open := func(t *testing.T, openOne func() (recordStore, error)) *contractStore {
		c := &contractStore{}
		var err error
		if c.rs, err = openOne(); err != nil {
			t.Fatal(err)
		}
		c.reopen = func(t *testing.T) {
			if err := c.rs.close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if c.rs, err = openOne(); err != nil {
				t.Fatalf("reopen: %v", err)
			}
		}
		t.Cleanup(func() { _ = c.rs.close() })
		return c
	}
	return map[string]func(t *testing.T) *contractStore{
		"local": func(t *testing.T) *contractStore {
			dir := t.TempDir()
			c := open(t, func() (recordStore, error) {
				return openLocalRecords(dir, "remote", slog.Default(), func(string, []byte) {})
			})
			c.other = func(*testing.T) recordStore { return c.rs }
			return c
		},
		"shared": func(t *testing.T) *contractStore {
			remote := "remote " + t.Name() // each case its own records in the one server
			openOne := func() (recordStore, error) {
				return openSharedRecords(srv.URL(), remote, time.Hour, slog.Default(), nopObserver{}, func(string, int) {})
			}
			c := open(t, openOne)
			c.other = func(t *testing.T) recordStore {
				rs, err := openOne()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = rs.close() })
				return rs
			}
			c.lose = func(t *testing.T) {
				opt, err := redis.ParseURL(srv.URL())
				if err != nil {
					t.Fatal(err)
				}
				rdb := redis.NewClient(opt)
				defer rdb.Close()
				if err := rdb.FlushAll(context.Background()).Err(); err != nil {
					t.Fatalf("flush: %v", err)
				}
			}
			return c
		},
	}
}

// hexName is a valid object name made of s.
func hexName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// newRec is a record of kind for key, acknowledged at at.
func newRec(t *testing.T, kind recKind, key objectKey, at time.Time) record {
	t.Helper()
	r := record{kind: kind, key: key, at: at}
	if kind == created {
		r.size = int64(len(key.path))
	}
	return r
}

func lockKey(s string) objectKey { return keyIn("repo/locks", hexName(s)) }

// sameRecord reports what differs between got and want in what every
// implementation keeps across a restart.
func sameRecord(got, want record) error {
	if got.kind != want.kind || got.key != want.key ||
		got.size != want.size || !got.at.Equal(want.at) || got.reap != want.reap ||
		!got.removedAt.Equal(want.removedAt) || got.deferred != want.deferred {
		return fmt.Errorf("record %+v, want %+v", got, want)
	}
	return nil
}

func lookupRec(t *testing.T, rs recordStore, key objectKey) (record, bool) {
	t.Helper()
	r, ok, err := rs.get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key.path, err)
	}
	return r, ok
}

func wantRecord(t *testing.T, rs recordStore, want record) {
	t.Helper()
	got, ok := lookupRec(t, rs, want.key)
	if !ok {
		t.Fatalf("get %s: no record, want %s", want.key.path, want.state())
	}
	if err := sameRecord(got, want); err != nil {
		t.Fatal(err)
	}
}

func mustCreate(t *testing.T, rs recordStore, r record, data []byte) {
	t.Helper()
	if err := rs.create(context.Background(), r, data); err != nil {
		t.Fatalf("create %s: %v", r.key, err)
	}
}

// deleteRec runs the Store's delete sequence on rs: prepare, then publish
// ts.
func deleteRec(t *testing.T, rs recordStore, ts record) {
	t.Helper()
	ctx := context.Background()
	if err := rs.prepareDelete(ctx, ts); err != nil {
		t.Fatalf("prepareDelete %s: %v", ts.key, err)
	}
	if err := rs.tombstone(ctx, ts); err != nil {
		t.Fatalf("tombstone %s: %v", ts.key, err)
	}
}

// createLocks creates the locks a and b, acknowledged at now.
func createLocks(t *testing.T, rs recordStore, now time.Time) (a, b record) {
	t.Helper()
	a, b = newRec(t, created, lockKey("a"), now), newRec(t, created, lockKey("b"), now)
	mustCreate(t, rs, a, nil)
	mustCreate(t, rs, b, nil)
	return a, b
}

func mustApply(t *testing.T, rs recordStore, cs ...change) []change {
	t.Helper()
	got, err := rs.apply(context.Background(), cs)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return got
}

// keysOf lists the keys of rs, sorted.
func keysOf(rs []*record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.key.path)
	}
	slices.Sort(out)
	return out
}

var contractCases = []struct {
	name string
	run  func(t *testing.T, c *contractStore)
}{
	{"lock orders one key, not others", func(t *testing.T, c *contractStore) {
		ctx := context.Background()
		k := lockKey("a")
		unlock, err := c.rs.lock(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		// Another key's lock does not wait for k's.
		other, err := c.rs.lock(ctx, lockKey("b"))
		if err != nil {
			t.Fatal(err)
		}
		other()
		var mu sync.Mutex
		var order []string
		note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
		got := make(chan error)
		go func() {
			u, err := c.rs.lock(ctx, k)
			if err == nil {
				note("second holder")
				u()
			}
			got <- err
		}()
		time.Sleep(100 * time.Millisecond) // room for a lock that does not wait to break the order
		note("first released")
		unlock()
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if want := []string{"first released", "second holder"}; !slices.Equal(order, want) {
			t.Fatalf("order %q, want %q: two holders of one key's lock at once", order, want)
		}
	}},
	{"get, create and content", func(t *testing.T, c *contractStore) {
		ctx := context.Background()
		now := time.Now()
		k := lockKey("a")
		if _, ok := lookupRec(t, c.rs, k); ok {
			t.Fatal("a record in an empty store")
		}
		r := newRec(t, created, k, now)
		mustCreate(t, c.rs, r, []byte("first"))
		wantRecord(t, c.rs, r)
		if b, ok, err := c.rs.content(ctx, k); err != nil || ok && string(b) != "first" {
			t.Fatalf("content %q, %v, %v: want the bytes created or none", b, ok, err)
		}
		// create replaces; a deferred lock's bytes are kept by every store.
		r2 := newRec(t, created, k, now.Add(time.Second))
		r2.deferred, r2.size = true, int64(len("second"))
		mustCreate(t, c.rs, r2, []byte("second"))
		wantRecord(t, c.rs, r2)
		if b, ok, err := c.rs.content(ctx, k); err != nil || !ok || string(b) != "second" {
			t.Fatalf("content of a deferred lock: %q, %v, %v; want its bytes", b, ok, err)
		}
		// A config record, listed in no folder, is kept by key as well.
		cfg := newRec(t, created, keyOf("repo/config"), now)
		mustCreate(t, c.rs, cfg, nil)
		wantRecord(t, c.rs, cfg)
	}},
	{"prepareDelete, tombstone and cancelDelete", func(t *testing.T, c *contractStore) {
		ctx := context.Background()
		now := time.Now()
		a, b := createLocks(t, c.rs, now)
		tsA := newRec(t, tombstone, a.key, now.Add(time.Second))
		tsA.reap = true
		if err := c.rs.prepareDelete(ctx, tsA); err != nil {
			t.Fatal(err)
		}
		wantRecord(t, c.rs, a) // prepared, not published: reads see the object
		if err := c.rs.tombstone(ctx, tsA); err != nil {
			t.Fatal(err)
		}
		wantRecord(t, c.rs, tsA)
		// The remote refused b's delete: b stays, before and after a restart.
		tsB := newRec(t, tombstone, b.key, now.Add(time.Second))
		tsB.reap = true
		if err := c.rs.prepareDelete(ctx, tsB); err != nil {
			t.Fatal(err)
		}
		if err := c.rs.cancelDelete(ctx, b.key, &b); err != nil {
			t.Fatal(err)
		}
		wantRecord(t, c.rs, b)
		// A delete of an object we hold no record of, cancelled.
		n := lockKey("none")
		if err := c.rs.prepareDelete(ctx, newRec(t, tombstone, n, now)); err != nil {
			t.Fatal(err)
		}
		if err := c.rs.cancelDelete(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
		c.reopen(t)
		if _, err := c.rs.due(ctx, now.Add(leaseTTL+time.Minute), time.Hour); err != nil { // a shared store's recovery runs here
			t.Fatal(err)
		}
		wantRecord(t, c.rs, tsA)
		wantRecord(t, c.rs, b)
		if r, ok := lookupRec(t, c.rs, n); ok {
			t.Fatalf("a cancelled delete left %s", r.state())
		}
	}},
	{"a prepared delete survives a crash as a pending reap", func(t *testing.T, c *contractStore) {
		ctx := context.Background()
		now := time.Now()
		a := newRec(t, created, lockKey("a"), now)
		mustCreate(t, c.rs, a, nil)
		ts := newRec(t, tombstone, a.key, now)
		ts.reap = true
		unlock, err := c.rs.lock(ctx, a.key)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.rs.prepareDelete(ctx, ts); err != nil {
			t.Fatal(err)
		}
		unlock() // the crashed holder's lease lapses
		c.reopen(t)
		if _, err := c.rs.due(ctx, now.Add(leaseTTL+time.Minute), time.Hour); err != nil {
			t.Fatal(err)
		}
		wantRecord(t, c.rs, ts)
	}},
	{"a confirmed tombstone never brings back what it replaced", func(t *testing.T, c *contractStore) {
		now := time.Now()
		a := newRec(t, created, lockKey("a"), now)
		mustCreate(t, c.rs, a, []byte("a"))
		ts := newRec(t, tombstone, a.key, now.Add(time.Second))
		ts.removedAt, ts.confirmed = ts.at, ts.at // a lock the remote never got
		deleteRec(t, c.rs, ts)
		c.reopen(t)
		if r, ok := lookupRec(t, c.rs, a.key); ok && r.kind != tombstone {
			t.Fatalf("after a restart %s is %s again", a.key, r.state())
		}
	}},
	{"viewDir shows one folder's records", func(t *testing.T, c *contractStore) {
		now := time.Now()
		l1, l2 := newRec(t, created, lockKey("1"), now), newRec(t, tombstone, lockKey("2"), now)
		l2.removedAt = now
		idx := newRec(t, created, keyOf("repo/index/"+hexName("i")), now)
		dn := hexName("d")
		data := newRec(t, created, keyOf("repo/data/"+dn[:2]+"/"+dn), now)
		mustCreate(t, c.rs, l1, nil)
		deleteRec(t, c.rs, l2)
		mustCreate(t, c.rs, idx, nil)
		mustCreate(t, c.rs, data, nil)
		mustCreate(t, c.rs, newRec(t, created, keyOf("repo/config"), now), nil)
		view := func(dir string, look ...string) (found, missed []record) {
			t.Helper()
			recs, err := c.rs.viewDir(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if slices.Contains(look, r.key.name) {
					found = append(found, *r)
				} else {
					missed = append(missed, *r)
				}
			}
			return found, missed
		}
		found, missed := view("repo/locks", l1.key.name, "nonexistent")
		if len(found) != 1 || sameRecord(found[0], l1) != nil || len(missed) != 1 || sameRecord(missed[0], l2) != nil {
			t.Fatalf("locks: found %+v, missed %+v; want %s found and %s missed", found, missed, l1.key.name, l2.key.name)
		}
		if found, missed = view("repo/data"); len(found) != 0 || len(missed) != 1 || sameRecord(missed[0], data) != nil {
			t.Fatalf("data: %+v, want the record below its prefix folder", missed)
		}
		if _, missed = view("repo"); len(missed) != 0 {
			t.Fatalf("the repository folder lists %+v: config records are in no listed folder", missed)
		}
		if _, missed = view("repo/keys"); len(missed) != 0 {
			t.Fatalf("an empty folder lists %+v", missed)
		}
	}},
	{"apply never applies to a newer or changed record", func(t *testing.T, c *contractStore) {
		now := time.Now()
		a := newRec(t, created, lockKey("a"), now)
		mustCreate(t, c.rs, a, nil)
		got := mustApply(t, c.rs, change{op: chConfirm, rec: a, at: now.Add(time.Second)})
		if len(got) != 1 || !got[0].rec.confirmed.Equal(now.Add(time.Second)) {
			t.Fatalf("confirm of an unchanged record: %+v, want it applied with its new state", got)
		}
		if r, _ := lookupRec(t, c.rs, a.key); !r.confirmed.Equal(now.Add(time.Second)) {
			t.Fatalf("after the confirmation: %+v", r)
		}
		// The decision saw b; b was written again meanwhile.
		b := newRec(t, created, lockKey("b"), now)
		mustCreate(t, c.rs, b, nil)
		b2 := newRec(t, created, b.key, now.Add(time.Second))
		mustCreate(t, c.rs, b2, nil)
		// And d was deleted (a tombstone, same time) meanwhile.
		d := newRec(t, created, lockKey("d"), now)
		mustCreate(t, c.rs, d, nil)
		dts := newRec(t, tombstone, d.key, now)
		dts.reap = true
		deleteRec(t, c.rs, dts)
		got = mustApply(t, c.rs, change{op: chExpire, rec: b, at: now}, change{op: chConfirm, rec: d, at: now},
			change{op: chConfirm, rec: newRec(t, created, lockKey("none"), now), at: now})
		if len(got) != 0 {
			t.Fatalf("applied %+v to newer, changed or missing records", got)
		}
		wantRecord(t, c.rs, b2)
		wantRecord(t, c.rs, dts)
		// A change applies once: after it, the record is not as decided.
		reaped := change{op: chReaped, rec: dts, at: now.Add(time.Second)}
		if got = mustApply(t, c.rs, reaped, reaped); len(got) != 1 || got[0].rec.reap || !got[0].rec.removedAt.Equal(reaped.at) {
			t.Fatalf("one reap applied twice or wrongly: %+v", got)
		}
		if got = mustApply(t, c.rs, change{op: chExpire, rec: b2, at: now}); len(got) != 1 {
			t.Fatalf("expire of an unchanged record: %+v", got)
		}
		if r, ok := lookupRec(t, c.rs, b2.key); ok {
			t.Fatalf("expired record still there: %+v", r)
		}
	}},
	{"due hands out the background work", func(t *testing.T, c *contractStore) {
		ctx := context.Background()
		now := time.Now()
		settle := 10 * time.Minute
		old := now.Add(-10 * time.Second) // past confirmMinAge
		fresh := newRec(t, created, lockKey("fresh"), now)
		lock := newRec(t, created, lockKey("old"), old)
		dn := hexName("d")
		data := newRec(t, created, keyOf("repo/data/"+dn[:2]+"/"+dn), old)
		cfg := newRec(t, created, keyOf("repo/config"), old)
		expired := newRec(t, created, keyOf("repo/index/"+hexName("x")), now.Add(-settle-time.Minute))
		reap := newRec(t, tombstone, keyOf("repo/snapshots/"+hexName("s")), old)
		reap.reap = true
		def := newRec(t, created, keyOf("repo2/locks/"+hexName("def")), old)
		def.deferred, def.size = true, 3
		conf := newRec(t, created, keyOf("repo/keys/"+hexName("k")), now.Add(-2*retireGrace))
		for _, r := range []record{fresh, lock, data, cfg, expired, conf} {
			mustCreate(t, c.rs, r, nil)
		}
		mustCreate(t, c.rs, def, []byte("def"))
		deleteRec(t, c.rs, reap)
		if got := mustApply(t, c.rs, change{op: chConfirm, rec: conf, at: now.Add(-retireGrace - time.Second)}); len(got) != 1 {
			t.Fatal("confirm not applied")
		}
		w, err := c.rs.due(ctx, now, settle)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(w.dirs)
		for what, pair := range map[string][2][]string{
			"uploads": {keysOf(w.uploads), {def.key.path}},
			"reaps":   {keysOf(w.reaps), {reap.key.path}},
			"dirs":    {w.dirs, {"repo/locks"}},
			"data":    {keysOf(w.data), {data.key.path}},
			"configs": {keysOf(w.configs), {cfg.key.path}},
			"expire":  {keysOf(w.expire), {expired.key.path}},
			"retire":  {keysOf(w.retire), {conf.key.path}},
		} {
			if !slices.Equal(pair[0], pair[1]) {
				t.Errorf("due %s = %q, want %q", what, pair[0], pair[1])
			}
		}
	}},
	{"counts and ready", func(t *testing.T, c *contractStore) {
		now := time.Now()
		if err := c.rs.ready(context.Background()); err != nil {
			t.Fatalf("ready: %v", err)
		}
		mustCreate(t, c.rs, newRec(t, created, keyOf("a/locks/"+hexName("1")), now), nil)
		mustCreate(t, c.rs, newRec(t, created, keyOf("b/config"), now), nil)
		ts := newRec(t, tombstone, keyOf("b/locks/"+hexName("2")), now)
		ts.removedAt = now
		deleteRec(t, c.rs, ts)
		reap := newRec(t, tombstone, keyOf("b/snapshots/"+hexName("3")), now.Add(-time.Minute).Truncate(time.Millisecond))
		reap.reap = true
		deleteRec(t, c.rs, reap)
		conf := newRec(t, created, keyOf("a/keys/"+hexName("4")), now)
		mustCreate(t, c.rs, conf, nil)
		mustApply(t, c.rs, change{op: chConfirm, rec: conf, at: now}) // no longer pending: not counted
		got := c.rs.counts()
		if got.created != 2 || got.tombstones != 1 || got.reaps != 1 || !got.oldestReap.Equal(reap.at) {
			t.Errorf("counts %+v, want 2 created, 1 tombstone, 1 reap since %v", got, reap.at)
		}
		by := c.rs.countsByRepo()
		if a, b := by["a"], by["b"]; len(by) != 2 || a.created != 1 || a.tombstones+a.reaps != 0 ||
			b.created != 1 || b.tombstones != 1 || b.reaps != 1 {
			t.Errorf("counts by repository %+v, want a: 1 created; b: 1 created, 1 tombstone, 1 reap", by)
		}
	}},
	{"ready fails when the state cannot be written", func(t *testing.T, c *contractStore) {
		if err := c.rs.close(); err != nil {
			t.Fatal(err)
		}
		if err := c.rs.ready(context.Background()); err == nil {
			t.Fatal("ready after close: nil, want an error")
		}
	}},
	{"records survive a restart", func(t *testing.T, c *contractStore) {
		ctx := context.Background()
		now := time.Now()
		small := newRec(t, created, keyOf("repo/snapshots/"+hexName("s")), now)
		def := newRec(t, created, lockKey("def"), now)
		def.deferred, def.size = true, 4
		reap := newRec(t, tombstone, lockKey("reap"), now)
		reap.reap = true
		gone := newRec(t, tombstone, lockKey("gone"), now)
		gone.removedAt = now.Add(time.Second)
		cfg := newRec(t, created, keyOf("repo/config"), now)
		mustCreate(t, c.rs, small, []byte("snapshot"))
		mustCreate(t, c.rs, def, []byte("lock"))
		mustCreate(t, c.rs, cfg, nil)
		deleteRec(t, c.rs, reap)
		deleteRec(t, c.rs, gone)
		c.reopen(t)
		for _, r := range []record{small, def, reap, gone, cfg} {
			wantRecord(t, c.rs, r)
		}
		if b, ok, err := c.rs.content(ctx, def.key); err != nil || !ok || string(b) != "lock" {
			t.Fatalf("a deferred lock's bytes after a restart: %q, %v, %v", b, ok, err)
		}
		if got := c.rs.counts(); got.created != 3 || got.tombstones != 1 || got.reaps != 1 {
			t.Fatalf("counts after a restart %+v", got)
		}
	}},
	{"racing writes of one key leave one of them whole", func(t *testing.T, c *contractStore) {
		ctx := context.Background()
		now := time.Now()
		const writers, rounds = 8, 5
		keys := []objectKey{lockKey("x"), lockKey("y")}
		var mu sync.Mutex
		last := map[objectKey]record{} // the last write of each key, in lock order
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds*len(keys))
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					key := keys[(w+i)%len(keys)]
					at := now.Add(time.Duration(w*rounds+i) * time.Millisecond)
					r := newRec(t, created, key, at)
					if w%2 == 1 {
						r = newRec(t, tombstone, key, at)
						r.removedAt = at.Add(time.Second)
					} else {
						r.size = int64(w + 1)
					}
					unlock, err := c.rs.lock(ctx, key)
					if err != nil {
						errs <- err
						return
					}
					if r.kind == created {
						err = c.rs.create(ctx, r, nil)
					} else if err = c.rs.prepareDelete(ctx, r); err == nil {
						err = c.rs.tombstone(ctx, r)
					}
					if err == nil {
						mu.Lock()
						last[key] = r
						mu.Unlock()
					}
					unlock()
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, k := range keys {
			wantRecord(t, c.rs, last[k])
		}
		c.reopen(t)
		if _, err := c.rs.due(ctx, now.Add(leaseTTL+time.Minute), time.Hour); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			wantRecord(t, c.rs, last[k])
		}
	}},
}

// viewOf is what a view of dir shows, by name.
func viewOf(t *testing.T, rs recordStore, dir string) map[string]record {
	t.Helper()
	recs, err := rs.viewDir(context.Background(), dir)
	if err != nil {
		t.Fatalf("view %s: %v", dir, err)
	}
	if !slices.IsSortedFunc(recs, func(a, b *record) int { return strings.Compare(a.key.name, b.key.name) }) {
		t.Fatalf("view of %s not in name order", dir)
	}
	out := map[string]record{}
	for _, r := range recs {
		out[r.key.name] = *r
	}
	return out
}

// wantView fails unless a view of dir shows exactly want, as they are.
func wantView(t *testing.T, rs recordStore, dir string, want ...record) {
	t.Helper()
	got := viewOf(t, rs, dir)
	for _, w := range want {
		g, ok := got[w.key.name]
		if !ok {
			t.Fatalf("view of %s lacks %s (%s); shows %d records", dir, w.key, w.state(), len(got))
		}
		if err := sameRecord(g, w); err != nil || !g.confirmed.Equal(w.confirmed) {
			t.Fatalf("view of %s: record %+v, want %+v", dir, g, w)
		}
		delete(got, w.key.name)
	}
	for _, g := range got {
		t.Fatalf("view of %s shows %s (%s), which is not there", dir, g.key, g.state())
	}
}

// Cases of the views a listing merges (folder.go, shared_view.go).
var viewCases = []struct {
	name string
	run  func(t *testing.T, c *contractStore)
}{
	{"a view shows every change since the last, through any instance", func(t *testing.T, c *contractStore) {
		now := time.Now()
		o := c.other(t)
		const locks = "repo/locks"
		wantView(t, c.rs, locks) // this instance holds a view of the folder from now on
		a, b, d := newRec(t, created, lockKey("a"), now), newRec(t, created, lockKey("b"), now), newRec(t, created, lockKey("d"), now)
		dn := hexName("data")
		data := newRec(t, created, keyOf("repo/data/"+dn[:2]+"/"+dn), now)
		for _, r := range []record{a, b, d, data} {
			mustCreate(t, o, r, nil)
		}
		wantView(t, c.rs, locks, a, b, d)
		wantView(t, c.rs, "repo/data", data)
		// Through the other instance a is confirmed, b deleted and d
		// expired; e is written through this one.
		got := mustApply(t, o, change{op: chConfirm, rec: a, at: now.Add(time.Second)}, change{op: chExpire, rec: d, at: now})
		if len(got) != 2 {
			t.Fatalf("applied %+v, want the confirmation and the expiry", got)
		}
		a.confirmed = now.Add(time.Second)
		bts := newRec(t, tombstone, b.key, now.Add(time.Second))
		bts.reap = true
		deleteRec(t, o, bts)
		e := newRec(t, created, lockKey("e"), now)
		mustCreate(t, c.rs, e, nil)
		wantView(t, c.rs, locks, a, bts, e)
		wantView(t, o, locks, a, bts, e)
	}},
	{"a view after the records were lost shows none of them", func(t *testing.T, c *contractStore) {
		if c.lose == nil {
			t.Skip("no loss this store must detect")
		}
		now := time.Now()
		const locks = "repo/locks"
		a, b := createLocks(t, c.rs, now)
		wantView(t, c.rs, locks, a, b)
		c.lose(t)
		// More writes after the loss than before it: a folder's version
		// that started again would reach the one the view holds.
		o := c.other(t)
		var after []record
		for _, s := range []string{"x", "y", "z"} {
			r := newRec(t, created, lockKey(s), now)
			mustCreate(t, o, r, nil)
			after = append(after, r)
		}
		wantView(t, c.rs, locks, after...)
	}},
	{"a view is a snapshot: later changes leave it as it was", func(t *testing.T, c *contractStore) {
		// A merge reads its view holding no lock (the store blocks no
		// other call meanwhile), so nothing may change the records it
		// returned.
		ctx := context.Background()
		now := time.Now()
		a, b := createLocks(t, c.rs, now)
		recs, err := c.rs.viewDir(ctx, "repo/locks")
		if err != nil {
			t.Fatal(err)
		}
		before := make([]record, len(recs))
		for i, r := range recs {
			before[i] = *r
		}
		mustApply(t, c.rs, change{op: chConfirm, rec: a, at: now.Add(time.Second)})
		bts := newRec(t, tombstone, b.key, now.Add(time.Second))
		bts.reap = true
		deleteRec(t, c.rs, bts)
		mustCreate(t, c.rs, newRec(t, created, lockKey("c"), now), nil)
		wantView(t, c.rs, "repo/locks", func() record { a.confirmed = now.Add(time.Second); return a }(), bts, newRec(t, created, lockKey("c"), now))
		if len(recs) != 2 {
			t.Fatalf("the view holds %d records, want the 2 of its moment", len(recs))
		}
		for i, r := range recs {
			if err := sameRecord(*r, before[i]); err != nil || !r.confirmed.Equal(before[i].confirmed) {
				t.Fatalf("a record of the view changed after it was taken: %+v, was %+v", *r, before[i])
			}
		}
	}},
}

func TestRecordStoreContract(t *testing.T) {
	for name, open := range recordStores(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range append(contractCases, viewCases...) {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
			}
		})
	}
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
