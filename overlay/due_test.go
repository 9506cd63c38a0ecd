package overlay

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

type dueCase struct {
	name string
	r    record
	want duty
}

// dueCases are records (their names hex, as the shared store checks) in every state that calls for background work (or
// none), with the duty each calls for at now.
func dueCases(now time.Time, settle time.Duration) []dueCase {
	at := func(c byte, kind recKind, age time.Duration) record { return locksRec(kind, c, now.Add(-age)) }
	confirmed := at('a', created, time.Minute)
	confirmed.confirmed = now.Add(-2 * retireGrace)
	fresh := at('b', created, time.Minute)
	fresh.confirmed = now.Add(-time.Second)
	deferred := at('c', created, 2*settle) // past settle, still uploaded
	deferred.deferred = true
	reap := at('d', tombstone, 10*time.Second)
	reap.reap = true
	reapLater := reap
	reapLater.key = keyIn("repo/locks", name('e'))
	reapLater.nextTry = now.Add(time.Minute)
	oldReap := at('f', tombstone, 2*settle)
	oldReap.reap = true
	cfg := record{kind: created, key: keyIn("repo", "config"), size: 3, at: now.Add(-10 * time.Second)}
	data := record{kind: created, key: keyIn("repo/data", name('1')), size: 3, at: now.Add(-10 * time.Second)}
	removed := at('2', tombstone, 10*time.Second)
	removed.removedAt = now.Add(-9 * time.Second)
	return []dueCase{
		{"created, young: the pacing decides", at('3', created, time.Second), dutyConfirmDir},
		{"created, its folder listed", at('4', created, 10*time.Second), dutyConfirmDir},
		{"tombstone, its folder listed", removed, dutyConfirmDir},
		{"created past settle", at('5', created, 2*settle), dutyExpire},
		{"confirmed past retireGrace", confirmed, dutyRetire},
		{"confirmed lately", fresh, dutyNone},
		{"deferred lock past settle", deferred, dutyUpload},
		{"reap due", reap, dutyReap},
		{"reap backing off", reapLater, dutyNone},
		{"reap past settle", oldReap, dutyExpire},
		{"config", cfg, dutyConfirmConfig},
		{"data", data, dutyConfirmData},
	}
}

func TestDutyOf(t *testing.T) {
	now, settle := time.Now(), time.Minute
	for _, c := range dueCases(now, settle) {
		if got := dutyOf(c.r, now, settle); got != c.want {
			t.Errorf("%s: duty %d, want %d", c.name, got, c.want)
		}
	}
}

// workOf is w as sorted keys per kind of work, to compare.
func workOf(w work) map[string][]string {
	dirs := slices.Clone(w.dirs)
	sort.Strings(dirs)
	return map[string][]string{"uploads": keysOf(w.uploads), "reaps": keysOf(w.reaps), "dirs": dirs,
		"data": keysOf(w.data), "configs": keysOf(w.configs), "expire": keysOf(w.expire), "retire": keysOf(w.retire)}
}

// Both record stores hand out the same work for the same records: the
// local one reads all its records, the shared one those its state sets
// point at, and both apply dutyOf.
func TestDueSameInBothStores(t *testing.T) {
	ctx := context.Background()
	now, settle := time.Now(), time.Minute
	srv := redistest.Start(t, redistest.Options{})
	shared, err := openSharedRecords(srv.URL(), "due-test", settle, slog.Default(), nopObserver{}, func(string, int) {})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.close()
	local := openTestOverlay(t, "", nil)
	defer local.close()
	want := map[string][]string{}
	for _, c := range dueCases(now, settle) {
		for _, s := range []recordStore{local, shared} {
			var data []byte
			if c.r.deferred {
				data = make([]byte, c.r.size)
			}
			if err := s.create(ctx, c.r, data); err != nil {
				t.Fatal(err)
			}
		}
		kind := map[duty]string{dutyUpload: "uploads", dutyRetire: "retire", dutyExpire: "expire", dutyReap: "reaps",
			dutyConfirmConfig: "configs", dutyConfirmData: "data", dutyConfirmDir: "dirs"}[c.want]
		if kind == "dirs" {
			if !slices.Contains(want[kind], c.r.key.dir) {
				want[kind] = append(want[kind], c.r.key.dir)
			}
		} else if kind != "" {
			want[kind] = append(want[kind], c.r.key.path)
			sort.Strings(want[kind])
		}
	}
	// The confirmer's pacing sees the same activity: every record awaiting
	// confirmation, too young ones included, by unit (the shared store
	// keeps times in milliseconds).
	wantUnits := map[string]unitActivity{}
	for _, c := range dueCases(now, settle) {
		if d := dutyOf(c.r, now, settle); d != dutyConfirmConfig && d != dutyConfirmData && d != dutyConfirmDir {
			continue
		}
		at := c.r.at.Truncate(time.Millisecond)
		u := confirmUnit(c.r.key)
		a, ok := wantUnits[u]
		if !ok || at.After(a.newest) {
			a.newest = at
		}
		if !ok || at.Before(a.oldest) {
			a.oldest = at
		}
		if at.After(a.newestOf[c.r.kind]) {
			a.newestOf[c.r.kind] = at
		}
		wantUnits[u] = a
	}
	for name, s := range map[string]recordStore{"local": local, "shared": shared} {
		w, err := s.due(ctx, now, settle)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.units) != len(wantUnits) {
			t.Errorf("%s store: activity in %d units %v, want %d %v", name, len(w.units), w.units, len(wantUnits), wantUnits)
		}
		for u, want := range wantUnits {
			got := w.units[u]
			ms := func(t time.Time) time.Time {
				if t.IsZero() {
					return t
				}
				return t.Truncate(time.Millisecond)
			}
			if !ms(got.newest).Equal(want.newest) || !ms(got.oldest).Equal(want.oldest) ||
				!ms(got.newestOf[created]).Equal(want.newestOf[created]) || !ms(got.newestOf[tombstone]).Equal(want.newestOf[tombstone]) {
				t.Errorf("%s store: unit %s activity %v, want %v", name, u, got, want)
			}
		}
		got := workOf(w)
		for k, v := range got {
			if !slices.Equal(v, want[k]) {
				t.Errorf("%s store: %s = %v, want %v", name, k, v, want[k])
			}
		}
	}
}
