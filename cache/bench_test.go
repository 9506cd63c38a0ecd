package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
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
		h := Handle{Repo: "repo", Type: Data, Name: name}
		recs = append(recs, record{kind: kind, key: h.remotePath(), dir: dir, name: name, size: 100, at: at})
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
	for b.Loop() {
		out, _, _ := s.merge(context.Background(), dir, l)
		if len(out) != want {
			b.Fatalf("merge returned %d entries, want %d", len(out), want)
		}
	}
	b.StopTimer()
	if per := b.Elapsed() / time.Duration(b.N); per > 50*time.Millisecond {
		b.Errorf("merge of %d records with %d entries took %v per op; goal < 50ms", n, n, per)
	}
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
			mem(s).set(record{kind: created, key: h.remotePath(), dir: typeDir("repo", Data), name: name, size: 42, at: time.Now()}, nil)
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
				if r, ok, _ := s.ov.get(ctx, h.remotePath()); ok && r.pending() {
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
	entries := make([]Entry, n)
	for i, name := range names {
		entries[i] = Entry{Name: name, Size: 10}
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		at := time.Now()
		for _, name := range names {
			h := Handle{Repo: "repo", Type: Data, Name: name}
			mem(s).set(record{kind: created, key: h.remotePath(), dir: dir, name: name, size: 10, at: at}, nil)
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
