package overlay

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// The overlay's transitions, with and without the journal; no remote.

func openTestOverlay(t *testing.T, stateDir string, onData func(string, []byte)) *localRecords {
	t.Helper()
	if onData == nil {
		onData = func(string, []byte) {}
	}
	o, err := openLocalRecords(stateDir, "test-remote", slog.Default(), onData)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustGet(t *testing.T, o recordStore, key objectKey) record {
	t.Helper()
	r, ok, err := o.get(context.Background(), key)
	if err != nil || !ok {
		t.Fatalf("get %s: ok %v, err %v", key.path, ok, err)
	}
	return r
}

func TestOverlayTransitions(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	settle := 10 * time.Minute
	for _, tc := range []struct {
		name  string
		start record              // the record in the overlay
		seen  func(record) record // what the decision saw (nil: start)
		c     changeOp
		at    time.Time
		check func(t *testing.T, r record, ok bool)
	}{{
		name:  "confirm keeps the record, confirmed",
		start: locksRec(created, 'a', now), c: chConfirm, at: now.Add(time.Second),
		check: func(t *testing.T, r record, ok bool) {
			if !ok || r.pending() || !r.confirmed.Equal(now.Add(time.Second)) {
				t.Fatalf("after confirm: ok %v, %+v", ok, r)
			}
		},
	}, {
		name:  "flip turns a tombstone into a pending reap",
		start: locksRec(tombstone, 'b', now), c: chFlip,
		check: func(t *testing.T, r record, ok bool) {
			if !ok || !r.reap || !r.pending() {
				t.Fatalf("after flip: %+v", r)
			}
		},
	}, {
		name:  "reaped records when the remote removed it",
		start: func() record { r := locksRec(tombstone, 'c', now); r.reap = true; return r }(),
		c:     chReaped, at: now.Add(time.Second),
		check: func(t *testing.T, r record, ok bool) {
			if !ok || r.reap || !r.removedAt.Equal(now.Add(time.Second)) {
				t.Fatalf("after reaped: %+v", r)
			}
		},
	}, {
		name:  "a failed reap backs off",
		start: func() record { r := locksRec(tombstone, 'd', now); r.reap = true; return r }(),
		c:     chReapFailed, at: now.Add(time.Minute),
		check: func(t *testing.T, r record, ok bool) {
			if !ok || !r.reap || r.tries != 1 || r.reapDue(now) || !r.reapDue(now.Add(time.Minute)) {
				t.Fatalf("after a failed reap: %+v", r)
			}
		},
	}, {
		name: "expire drops the record", start: locksRec(created, 'e', now), c: chExpire,
		check: func(t *testing.T, _ record, ok bool) {
			if ok {
				t.Fatal("expired record still there")
			}
		},
	}, {
		name:  "a change decided on an older state is skipped",
		start: func() record { r := locksRec(tombstone, 'f', now); r.reap = true; return r }(),
		seen:  func(r record) record { r.reap = false; return r }, // decided before the flip
		c:     chConfirm, at: now,
		check: func(t *testing.T, r record, ok bool) {
			if !ok || !r.pending() {
				t.Fatalf("a stale confirmation applied: %+v", r)
			}
		},
	}, {
		name:  "a change never applies to a newer record of the same name",
		start: locksRec(created, '1', now),
		seen:  func(r record) record { r.at = r.at.Add(-time.Second); return r }, // the previous write
		c:     chExpire,
		check: func(t *testing.T, r record, ok bool) {
			if !ok {
				t.Fatal("the newer record was dropped")
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, dir := range []string{"", t.TempDir()} {
				o := openTestOverlay(t, dir, nil)
				if err := o.create(ctx, tc.start, nil); err != nil {
					t.Fatal(err)
				}
				seen := tc.start
				if tc.seen != nil {
					seen = tc.seen(seen)
				}
				applied, err := o.apply(ctx, []change{{op: tc.c, rec: seen, at: tc.at}})
				if err != nil {
					t.Fatal(err)
				}
				r, ok, _ := o.get(ctx, tc.start.key)
				tc.check(t, r, ok)
				if skipped := tc.seen != nil; skipped != (len(applied) == 0) {
					t.Fatalf("applied %d changes", len(applied))
				}
				if _, err := o.due(ctx, now, settle); err != nil {
					t.Fatal(err)
				}
				if err := o.close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestOverlayDue(t *testing.T) {
	ctx := context.Background()
	o := openTestOverlay(t, "", nil)
	defer o.close()
	now := time.Now()
	settle := time.Minute
	fresh := locksRec(created, 'a', now.Add(-time.Second))      // too young to confirm
	old := locksRec(created, 'b', now.Add(-10*time.Second))     // the confirmer lists its folder
	expired := locksRec(created, 'c', now.Add(-2*settle))       // past the settle window
	retired := locksRec(created, 'd', now.Add(-10*time.Second)) // confirmed long ago
	reap := locksRec(tombstone, 'e', now.Add(-10*time.Second))  // a pending reap, due
	cfg := record{kind: created, key: keyIn("repo", "config"), size: 3, at: now.Add(-10 * time.Second)}
	reap.reap = true
	for _, r := range []record{fresh, old, expired, retired, reap, cfg} {
		if err := o.create(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	o.apply(ctx, []change{{op: chConfirm, rec: retired, at: now.Add(-2 * retireGrace)}})
	w, err := o.due(ctx, now, settle)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(w.expire); len(got) != 1 || got[0] != expired.key.path {
		t.Errorf("expire = %v", got)
	}
	if got := keysOf(w.retire); len(got) != 1 || got[0] != retired.key.path {
		t.Errorf("retire = %v", got)
	}
	if got := keysOf(w.reaps); len(got) != 1 || got[0] != reap.key.path {
		t.Errorf("reaps = %v", got)
	}
	if got := keysOf(w.configs); len(got) != 1 || got[0] != cfg.key.path {
		t.Errorf("configs = %v", got)
	}
	if len(w.dirs) != 1 || w.dirs[0] != "repo/locks" {
		t.Errorf("dirs = %v", w.dirs)
	}
}

// A restart inside the settle window brings every pending record back
// from the journal, in the state it had: a deleted lock stays deleted
// (even before the remote stops listing it), a pending reap is retried,
// and a small upload's bytes are served again. Confirmed records are not
// brought back: the remote agrees with them.
func TestOverlayRestartInsideSettleWindow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	o := openTestOverlay(t, dir, nil)
	lock := locksRec(created, 'a', now)
	gone := locksRec(tombstone, 'b', now)
	reap := locksRec(tombstone, 'c', now)
	reap.reap = true
	done := locksRec(created, 'd', now)
	gone.removedAt = now.Add(time.Millisecond)
	if err := o.create(ctx, lock, []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := o.create(ctx, done, nil); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []record{gone, reap} {
		if err := o.prepareDelete(ctx, ts); err != nil {
			t.Fatal(err)
		}
		if err := o.tombstone(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.apply(ctx, []change{{op: chConfirm, rec: done, at: now}}); err != nil {
		t.Fatal(err)
	}
	if err := o.close(); err != nil {
		t.Fatal(err)
	}

	data := map[string]string{}
	o2 := openTestOverlay(t, dir, func(k string, b []byte) { data[k] = string(b) })
	defer o2.close()
	if r := mustGet(t, o2, lock.key); r.kind != created || r.size != 10 || !r.at.Equal(now) {
		t.Errorf("created record after restart: %+v", r)
	}
	if data[lock.key.path] != "0123456789" {
		t.Errorf("small upload's bytes after restart: %q", data[lock.key.path])
	}
	if r := mustGet(t, o2, gone.key); r.kind != tombstone || r.reap || !r.removedAt.Equal(gone.removedAt) {
		t.Errorf("tombstone after restart: %+v", r)
	}
	if r := mustGet(t, o2, reap.key); !r.reap {
		t.Errorf("pending reap after restart: %+v", r)
	}
	if _, ok, _ := o2.get(ctx, done.key); ok {
		t.Error("a confirmed record came back from the journal")
	}
	// A listing that still shows the deleted lock (delete lag) leaves it out.
	recs, err := o2.viewDir(ctx, "repo/locks")
	if err != nil {
		t.Fatal(err)
	}
	m := mergeListing(listing{entries: []Entry{{Name: gone.key.name, Size: 10}}, start: now.Add(time.Second)}, recs)
	if len(m.entries) != 1 || m.entries[0].Name != lock.key.name {
		t.Errorf("listing after restart = %v, want only the created lock", m.entries)
	}
	if c := o2.counts(); c.created != 1 || c.tombstones != 1 || c.reaps != 1 {
		t.Errorf("counts after restart = %+v", c)
	}
}

// A delete the remote refused is undone in the journal: the previous
// record comes back after a restart, not the prepared tombstone.
func TestOverlayCancelDelete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := openTestOverlay(t, dir, nil)
	now := time.Now()
	prev := locksRec(created, 'a', now)
	fresh := locksRec(tombstone, 'b', now)
	ts := locksRec(tombstone, 'a', now.Add(time.Second))
	ts.reap = true
	fresh.reap = true
	o.create(ctx, prev, nil)
	for _, c := range []struct {
		ts   record
		prev *record
	}{{ts, &prev}, {fresh, nil}} {
		if err := o.prepareDelete(ctx, c.ts); err != nil {
			t.Fatal(err)
		}
		if r := mustGet(t, o, prev.key); r.kind != created {
			t.Fatal("a prepared delete was published")
		}
		if err := o.cancelDelete(ctx, c.ts.key, c.prev); err != nil {
			t.Fatal(err)
		}
	}
	o.close()
	o2 := openTestOverlay(t, dir, nil)
	defer o2.close()
	if r := mustGet(t, o2, prev.key); r.kind != created || !r.at.Equal(now) {
		t.Errorf("after a cancelled delete and a restart: %+v", r)
	}
	if _, ok, _ := o2.get(ctx, fresh.key); ok {
		t.Error("a cancelled delete of an unknown object left a record")
	}
}
