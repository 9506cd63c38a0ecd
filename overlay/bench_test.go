package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	bolt "go.etcd.io/bbolt"
)

// Benchmarks of the overlay (issue 6). Goals: merging a 100,000-entry
// listing with 100,000 records under 50 ms; overlay operations O(log n) or
// better, i.e. a lookup or a record+retire costs the same with 100,000
// other records as with none.
//
//	go test -run '^$' -bench . -benchmem ./cache/

// benchStore is a Store over a fresh in-memory remote, with its journal
// in a temporary folder.
func benchStore(b *testing.B) *Store {
	b.Helper()
	return memoryStore(b, Options{StateDir: b.TempDir()})
}

// memoryStore is a Store with opt over a fresh in-memory remote.
func memoryStore(b *testing.B, opt Options) *Store {
	b.Helper()
	f, err := fs.NewFs(context.Background(), fmt.Sprintf(":memory:bench%d", rand.Uint64()))
	if err != nil {
		b.Fatalf("memory remote: %v", err)
	}
	s, err := New(f, opt)
	if err != nil {
		b.Fatalf("new store: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// cpuClock starts counting the process's CPU time (every goroutine's,
// the garbage collector's too); the function it returns reports it per op
// as cpu-ms/op and returns it. On a shared machine the wall time of an op
// grows with the load of others; its CPU time does not.
func cpuClock(b *testing.B) func() time.Duration {
	b.Helper()
	used := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatalf("getrusage: %v", err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	runtime.GC() // the setup's garbage is not the ops' cost
	start := used()
	return func() time.Duration {
		per := (used() - start) / time.Duration(b.N)
		b.ReportMetric(float64(per.Microseconds())/1000, "cpu-ms/op")
		return per
	}
}

// hexNames returns n distinct random 64-hex names.
func hexNames(n int, seed uint64) []string {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'n'})
	out := make([]string, n)
	id := make([]byte, 32)
	for i := range out {
		_, _ = r.Read(id)
		out[i] = hex.EncodeToString(id)
	}
	return out
}

// benchFolder returns n records in repo/data: half fresh creates the
// listing does not show yet, a quarter creates it shows, a quarter
// tombstones it still shows; and the remote listing (100% of listed
// names, sorted as listRemote returns them) that goes with them. The
// records are dated an hour ahead so that neither the store's background
// confirmer nor the settle window retires them while a benchmark runs
// (retiring 25,000 of them one journal batch at a time takes minutes; see
// BenchmarkRetireBatch).
func benchFolder(n int) ([]record, []Entry) {
	at := time.Now().Add(time.Hour)
	dir := typeDir("repo", Data)
	listed := hexNames(n, 1)
	fresh := hexNames(n/2, 2)
	entries := make([]Entry, 0, n)
	for _, name := range listed {
		entries = append(entries, Entry{Name: name, Size: 100})
	}
	var recs []record
	add := func(name string, kind recKind) {
		recs = append(recs, record{kind: kind, key: keyIn(dir, name), size: 100, at: at})
	}
	for _, name := range fresh {
		add(name, created)
	}
	for i, name := range listed[:n/2] {
		if i%2 == 0 {
			add(name, created)
		} else {
			add(name, tombstone)
		}
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return recs, entries
}

// fillOverlay puts benchFolder's n records in s's local overlay and
// returns the listing that goes with them.
func fillOverlay(s *Store, n int) []Entry {
	recs, entries := benchFolder(n)
	for i := range recs {
		mem(s).set(recs[i], nil)
	}
	return entries
}

// BenchmarkListMerge100k merges a 100,000-entry remote listing with
// 100,000 overlay records of the same folder. The listing started before
// the records were made, so it confirms none and every iteration does the
// same work.
func BenchmarkListMerge100k(b *testing.B) {
	s := benchStore(b)
	const n = 100_000
	entries := fillOverlay(s, n)
	l := listing{entries: entries, start: time.Now()}
	dir := typeDir("repo", Data)
	want := n + n/2 - n/4 // listed + fresh creates - tombstones
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuClock(b)
	for b.Loop() {
		out, _, _ := s.merge(context.Background(), dir, l)
		if len(out) != want {
			b.Fatalf("merge returned %d entries, want %d", len(out), want)
		}
	}
	cpu() // reported against the 50 ms goal (issues 6 and 24), never asserted: a loaded machine is no verdict
}

// BenchmarkLookup looks up a fresh write (answered from the overlay, no
// remote call) with no other record and with 100,000 others.
func BenchmarkLookup(b *testing.B) {
	for _, others := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("records=%d", others), func(b *testing.B) {
			s := benchStore(b)
			if others > 0 {
				fillOverlay(s, others)
			}
			name := hexNames(1, 9)[0]
			h := Handle{Repo: "repo", Type: Data, Name: name}
			mem(s).set(record{kind: created, key: h.key(), size: 42, at: time.Now()}, nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				o, err := s.Lookup(ctx, h)
				if err != nil {
					b.Fatalf("lookup: %v", err)
				}
				if o.Size() != 42 {
					b.Fatalf("size %d, want 42", o.Size())
				}
			}
		})
	}
}

// BenchmarkRecordRetire is the life of one lock: Put (remote write,
// journal, record), then a listing of locks/ that confirms the
// record (the memory remote lists at once). The 100,000 other records sit
// in data/, as during a large backup.
func BenchmarkRecordRetire(b *testing.B) {
	for _, others := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("records=%d", others), func(b *testing.B) {
			s := benchStore(b)
			if others > 0 {
				fillOverlay(s, others)
			}
			ctx := context.Background()
			body := []byte(`{"time":"2026-01-01T00:00:00Z","exclusive":false,"hostname":"bench","pid":1}`)
			sum := sha256.Sum256(body)
			h := Handle{Repo: "repo", Type: Locks, Name: hex.EncodeToString(sum[:])}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Put(ctx, h, bytes.NewReader(body), int64(len(body)), PutOptions{SHA256: sum[:]}); err != nil {
					b.Fatalf("put: %v", err)
				}
				// A listing must start after the write to confirm it.
				time.Sleep(time.Microsecond)
				// Fresh: the cached listing started before the write.
				if _, _, err := s.listFresh(ctx, typeDir("repo", Locks)); err != nil {
					b.Fatalf("list: %v", err)
				}
				if r, ok, _ := s.ov.get(ctx, h.key()); ok && r.pending() {
					b.Fatal("the listing did not confirm the record")
				}
			}
		})
	}
}

// BenchmarkPutStream uploads 16 MiB with SHA-256 verification to the
// memory remote; MB/s is the streaming rate through the verifier.
func BenchmarkPutStream16MiB(b *testing.B) {
	s := benchStore(b)
	body := make([]byte, 16<<20)
	r := rand.NewChaCha8([32]byte{'p', 'u', 't'})
	_, _ = r.Read(body)
	sum := sha256.Sum256(body)
	h := Handle{Repo: "repo", Type: Data, Name: hex.EncodeToString(sum[:])}
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Put(ctx, h, bytes.NewReader(body), int64(len(body)), PutOptions{SHA256: sum[:]}); err != nil {
			b.Fatalf("put: %v", err)
		}
	}
}

// BenchmarkRetireBatch is one listing that confirms 100 fresh writes at
// once (as the first confirming listing of data/ after a backup does): the
// merge confirms them and drops them from the journal.
func BenchmarkRetireBatch(b *testing.B) {
	const n = 100
	s := benchStore(b)
	dir := typeDir("repo", Data)
	names := hexNames(n, 5)
	slices.Sort(names) // a listing is sorted by name (listRemote)
	entries := make([]Entry, n)
	for i, name := range names {
		entries[i] = Entry{Name: name, Size: 10}
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		at := time.Now()
		for _, name := range names {
			mem(s).set(record{kind: created, key: keyIn(dir, name), size: 10, at: at}, nil)
		}
		time.Sleep(time.Microsecond)
		b.StartTimer()
		s.merge(context.Background(), dir, listing{entries: entries, start: time.Now()})
		if c := s.ov.counts(); c.created != 0 {
			b.Fatalf("the listing left %d records unconfirmed", c.created)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/record")
}

// BenchmarkRestart100kTombstones is a start (New) over a state folder
// whose journal holds 100,000 pending tombstones (pending reaps), as after
// a crash in the middle of a large prune: an op is the time until the
// Store is ready to answer, the journal reloaded. Each op starts from a
// copy of the same journal (the background of the previous one reaped).
// Goal: under 2 s.
//
//	go test -run '^$' -bench Restart100k -benchtime 3x ./cache/
func BenchmarkRestart100kTombstones(b *testing.B) {
	const n = 100_000
	pristine := b.TempDir()
	f, err := fs.NewFs(context.Background(), fmt.Sprintf(":memory:bench%d", rand.Uint64()))
	if err != nil {
		b.Fatal(err)
	}
	j, err := openJournal(pristine, fs.ConfigString(f))
	if err != nil {
		b.Fatal(err)
	}
	recs, _ := benchFolder(n)
	err = j.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(j.bucket)
		for _, r := range recs {
			r.kind, r.reap = tombstone, true
			v, err := json.Marshal(journalOf(r, nil))
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(r.key.path), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := j.close(); err != nil {
		b.Fatal(err)
	}
	stateDir := func() string {
		dir := b.TempDir()
		for _, name := range []string{"overlay.db", journalMarkerName} {
			data, err := os.ReadFile(filepath.Join(pristine, name))
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, name), data, 0o600)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		return dir
	}
	// What the start reloads (the overlay alone: no background to reap).
	o, err := openLocalRecords(stateDir(), fs.ConfigString(f), slog.Default(), func(string, []byte) {})
	if err != nil {
		b.Fatal(err)
	}
	if c := o.counts(); c.reaps != n {
		b.Fatalf("%d pending reaps reloaded, want %d", c.reaps, n)
	}
	o.close()
	for b.Loop() {
		b.StopTimer()
		dir := stateDir()
		b.StartTimer()
		s, err := New(f, Options{StateDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	if per := b.Elapsed() / time.Duration(b.N); per > 2*time.Second {
		b.Errorf("a start with %d pending tombstones took %v; goal < 2s", n, per)
	}
}
