package faults

import (
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/steadyrest/steadyrest/overlay"
)

// deleteTogether sends n DELETEs of target at once, and fails the test
// unless each answers 200 (a repeated DELETE succeeds, as restic expects).
func deleteTogether(t *testing.T, addr, target string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	statuses, errs := make([]int, n), make([]error, n)
	for i := range n {
		wg.Go(func() { statuses[i], _, errs[i] = exchange(addr, rawRequest{method: "DELETE", target: target}) })
	}
	wg.Wait()
	for i, s := range statuses {
		if errs[i] != nil || s != http.StatusOK {
			t.Fatalf("DELETE %d of %s: %d %v, want 200", i, target, s, errs[i])
		}
	}
}

// fill uploads distinct data objects of size bytes into /r/ until the
// quota answers 507, at most tries of them, and returns how many were
// stored.
func fill(t *testing.T, addr string, size, tries int, seed uint64) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range tries {
		data, id := blob(rng, size)
		switch s, b := send(t, addr, rawRequest{method: "POST", target: "/r/data/" + id, body: data}); s {
		case http.StatusOK:
		case http.StatusInsufficientStorage:
			return i
		default:
			t.Fatalf("upload %d: %d %q", i, s, b)
		}
	}
	return tries
}

// Parallel DELETEs of one object give its size back to the --max-size
// quota once: afterwards the quota still holds what is stored to its
// limit.
func TestQuotaConcurrentDeletes(t *testing.T) {
	const max, size = 10 << 20, 4 << 20
	root := t.TempDir()
	srv := startSteadyrest(t, root, t.TempDir(), "127.0.0.1:0", nil, "--max-size", "10M", "--no-request-log")
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/r/?create=true"}, 200)
	data, id := blob(rand.New(rand.NewPCG(1, 1)), size)
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/r/data/" + id, body: data}, 200)
	deleteTogether(t, srv.Addr, "/r/data/"+id, 20)

	n := fill(t, srv.Addr, size, 8, 2)
	if got := storedBytes(t, root); got > max || n != max/size {
		t.Fatalf("after 20 parallel deletes of one %d byte object, %d more were stored: %d bytes under a %d byte quota, want %d objects",
			size, n, got, max, max/size)
	}
}

// With --append-only a client may still delete locks: a lock is at most
// 64 KiB (restic's are under 1 KiB), so it cannot carry data, and
// parallel deletes of one give its size back once.
func TestQuotaAppendOnlyLocks(t *testing.T) {
	const max = 1 << 20
	root := t.TempDir()
	srv := startSteadyrest(t, root, t.TempDir(), "127.0.0.1:0", nil,
		"--max-size", "1M", "--append-only", "--lock-upload-delay", "0", "--no-request-log")
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/r/?create=true"}, 200)
	rng := rand.New(rand.NewPCG(3, 3))
	for _, size := range []int{4 << 20, 64<<10 + 1} {
		data, id := blob(rng, size)
		s, b := send(t, srv.Addr, rawRequest{method: "POST", target: "/r/locks/" + id, body: data})
		if s != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "64 KiB") {
			t.Errorf("a %d byte lock: %d %q, want 413 saying the 64 KiB limit", size, s, b)
		}
	}
	// Uploaded before the answer (no write-behind), so that each delete
	// removes a file, as a data object's does.
	for range 5 {
		lock, lockID := blob(rng, 64<<10)
		mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/r/locks/" + lockID, body: lock}, 200)
		deleteTogether(t, srv.Addr, "/r/locks/"+lockID, 20)
	}

	const size = 100 << 10
	n := fill(t, srv.Addr, size, 30, 4)
	if got := storedBytes(t, root); got > max || n != max/size {
		t.Fatalf("after 20 parallel deletes of each of five 64 KiB locks, %d objects of %d bytes were stored: %d bytes under a %d byte quota, want %d objects",
			n, size, got, max, max/size)
	}
}

// storedBytes is what the repositories below a local remote's root hold
// on disk, steadyrest's own files left out as the quota leaves them.
func storedBytes(t *testing.T, root string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == overlay.ReservedDir {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return n
}
