package cache

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

// Benchmarks of the shared overlay against the local journal (issue 12):
// the per-request cost of keeping the records in Redis (a redis-server on
// a unix socket, appendfsync always, as the README recommends) instead of
// in memory plus bbolt.
//
//	go test -run '^$' -bench 'Overlay' -benchmem ./cache/

// overlayStore is a Store with opt over a fresh in-memory remote, its
// records kept the way kind says: "journal" (memory and bbolt) or "redis"
// (a redis-server of its own, append-only with appendfsync always).
func overlayStore(b *testing.B, kind string, opt Options) *Store {
	b.Helper()
	switch kind {
	case "journal":
		opt.StateDir = b.TempDir()
	case "redis":
		opt.Overlay = redistest.Start(b, redistest.Options{AppendOnly: true}).URL()
	default:
		b.Fatalf("unknown overlay kind %q", kind)
	}
	return memoryStore(b, opt)
}

// BenchmarkOverlayLockCycle uploads a lock and deletes it, as every
// restic command does: the overlay's share of that is a record created
// durably, a delete prepared and published, and the name's lease (lock)
// around each; written behind (LockUploadDelay), the remote calls go.
func BenchmarkOverlayLockCycle(b *testing.B) {
	for _, c := range []struct {
		kind, name string
		delay      time.Duration
	}{{"journal", "journal", 0}, {"redis", "redis", 0}, {"journal", "journal-writebehind", time.Hour}, {"redis", "redis-writebehind", time.Hour}} {
		b.Run(c.name, func(b *testing.B) {
			s := overlayStore(b, c.kind, Options{LockUploadDelay: c.delay})
			ctx := context.Background()
			body := strings.Repeat("l", 180) // a lock file's size
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				h, _ := obj(fmt.Sprintf("%s %d", body, i))
				data := fmt.Sprintf("%s %d", body, i)
				if err := s.Put(ctx, h, strings.NewReader(data), int64(len(data)), PutOptions{}); err != nil {
					b.Fatal(err)
				}
				if err := s.Remove(ctx, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOverlayListMerge100k merges a 100,000-entry listing with
// 100,000 records of the folder (as BenchmarkListMerge100k), the records
// read from Redis at every merge.
func BenchmarkOverlayListMerge100k(b *testing.B) {
	s := overlayStore(b, "redis", Options{})
	o := shared(s)
	const n = 100_000
	dir := typeDir("repo", Data)
	recs, entries := benchFolder(n)
	ws := make([]write, len(recs))
	for i, r := range recs {
		ws[i] = write{key: r.key, r: r}
	}
	ctx := context.Background()
	for len(ws) > 0 {
		k := min(len(ws), 5000)
		if _, err := o.writeAll(ctx, OverlayCreate, ws[:k]); err != nil {
			b.Fatal(err)
		}
		ws = ws[k:]
	}
	l := listing{entries: entries, start: time.Now()}
	want := n + n/2 - n/4
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, _, err := s.merge(ctx, dir, l)
		if err != nil || len(out) != want {
			b.Fatalf("merge returned %d entries (%v), want %d", len(out), err, want)
		}
	}
}
