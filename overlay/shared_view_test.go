package overlay

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

// twoInstances opens two shared overlays over the same records.
func twoInstances(t *testing.T) (a, b *sharedRecords) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	open := func() *sharedRecords {
		o, err := openSharedRecords(srv.URL(), "remote", time.Hour, slog.Default(), nopObserver{}, func(string, int) {})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.close() })
		return o
	}
	return open(), open()
}

// dataRecs returns n created records of repo/data, each in its prefix
// folder.
func dataRecs(n int, seed uint64, at time.Time) []record {
	out := make([]record, n)
	for i, name := range hexNames(n, seed) {
		out[i] = record{kind: created, key: keyIn("repo/data", name), size: 7, at: at}
	}
	return out
}

// writeRecs writes recs through o, as creates, in a few round trips.
func writeRecs(t testing.TB, o *sharedRecords, recs []record) {
	t.Helper()
	ws := make([]write, len(recs))
	for i, r := range recs {
		ws[i] = write{r: r}
	}
	for len(ws) > 0 {
		k := min(len(ws), 5000)
		if _, err := o.writeAll(context.Background(), SharedCreate, ws[:k]); err != nil {
			t.Fatal(err)
		}
		ws = ws[k:]
	}
}

// More changes than a folder's change log keeps, between two listings of
// another instance: its view reads the folder whole and misses none, though
// the folder holds as many records as before. Then a few changes: the view
// reads only those (it is not read whole again).
func TestSharedViewBeyondChangeLog(t *testing.T) {
	a, b := twoInstances(t)
	now := time.Now()
	recs := dataRecs(viewLogMax+10, 1, now)
	writeRecs(t, a, recs)
	wantView(t, b, "repo/data", recs...)
	// Every record confirmed through a: the count stays, the log overflows.
	cs := make([]change, len(recs))
	for i, r := range recs {
		cs[i] = change{op: chConfirm, rec: r, at: now.Add(time.Second)}
		recs[i].confirmed = now.Add(time.Second)
	}
	if got := mustApply(t, a, cs...); len(got) != len(cs) {
		t.Fatalf("applied %d of %d confirmations", len(got), len(cs))
	}
	wantView(t, b, "repo/data", recs...)

	v := b.views.get("repo/data", time.Now())
	loaded := v.loaded
	if got := mustApply(t, a, change{op: chRetire, rec: recs[0], at: now}); len(got) != 1 {
		t.Fatalf("applied %+v", got)
	}
	fresh := dataRecs(1, 2, now)
	writeRecs(t, a, fresh)
	wantView(t, b, "repo/data", append(recs[1:len(recs):len(recs)], fresh...)...)
	if !v.loaded.Equal(loaded) {
		t.Error("two changes made the view read the whole folder again")
	}
}

// A folder whose keys expired in Redis (no instance wrote it for the
// longest life of a record) and was written again: a view from before
// shows only the new records, though the marker never changed.
func TestSharedViewFolderExpired(t *testing.T) {
	a, b := twoInstances(t)
	now := time.Now()
	old := dataRecs(3, 1, now)
	writeRecs(t, a, old)
	wantView(t, b, "repo/data", old...)
	ctx := context.Background()
	dir := "repo/data"
	if err := a.rdb.Del(ctx, a.k.dir(dir), a.k.version(dir), a.k.changes(dir)).Err(); err != nil {
		t.Fatal(err)
	}
	fresh := dataRecs(2, 2, now)
	writeRecs(t, a, fresh)
	wantView(t, b, "repo/data", fresh...)
}
