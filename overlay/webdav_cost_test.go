package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/webdav" // the backend the far-cloud bench uses
	"github.com/rclone/rclone/fs"
	"golang.org/x/net/webdav"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// davCounter is a WebDAV server (golang.org/x/net/webdav over a folder)
// that records every request it answers: remote calls counted where the
// remote sees them, as the farwebdav bench does, with rclone's real webdav
// backend in between (which adds a MKCOL before and a PROPFIND after
// every upload).
type davCounter struct {
	h    http.Handler
	mu   sync.Mutex
	reqs []string // "METHOD path" (PROPFIND with " d<depth>")
}

func (d *davCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := r.Method + " " + r.URL.Path
	if r.Method == "PROPFIND" {
		req += " d" + r.Header.Get("Depth")
	}
	d.mu.Lock()
	d.reqs = append(d.reqs, req)
	d.mu.Unlock()
	d.h.ServeHTTP(w, r)
}

// take returns the requests since the last take.
func (d *davCounter) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.reqs
	d.reqs = nil
	return out
}

// davRemote serves a fresh folder over WebDAV and returns rclone's webdav
// backend on it, the counter, and the folder.
func davRemote(t *testing.T) (fs.Fs, *davCounter, string) {
	t.Helper()
	dir := t.TempDir()
	d := &davCounter{h: &webdav.Handler{FileSystem: webdav.Dir(dir), LockSystem: webdav.NewMemLS()}}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	f, err := fs.NewFs(context.Background(), fmt.Sprintf(":webdav,url='%s/',vendor=other:", srv.URL))
	if err != nil {
		t.Fatalf("webdav remote: %v", err)
	}
	d.take() // whatever NewFs asked
	return f, d, dir
}

// The first heartbeat round of the first instance on a remote path costs
// WebDAV 5 requests: the listing (the folder is missing), the creation of
// ReservedDir, then the upload (rclone's MKCOL of the last folder, PUT,
// PROPFIND). It was 8: a lookup of our name before the upload, and the
// upload's MKCOL failing on the missing grandparent, a probe of it, then
// two MKCOLs. A restart of that instance lists, finds its heartbeat there
// and updates it: 4 requests, no lookup.
func TestHeartbeatFirstRoundOnWebDAV(t *testing.T) {
	f, dav, dir := davRemote(t)
	state := t.TempDir()
	s, err := NewPeerWatch(f, PeerOptions{Interval: time.Hour, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	settled(t, s, dir)
	first := dav.take()
	if len(first) != 5 || first[0] != "PROPFIND /"+peersDir+"/ d1" || !strings.HasPrefix(first[1], "MKCOL /"+ReservedDir) {
		t.Errorf("first heartbeat round on a fresh remote path: %d requests %q, want 5: the listing, MKCOL of %s, MKCOL, PUT, PROPFIND",
			len(first), first, ReservedDir)
	}
	// A crash: the heartbeat stays on the remote, and the state folder
	// keeps the instance id.
	s.Stop()
	dav.take()

	s2 := newWatch(t, f, PeerOptions{Interval: time.Hour, StateDir: state})
	if s2.self != s.self {
		t.Fatalf("restarted as %s, want %s", s2.self, s.self)
	}
	testutil.Eventually(t, "the restart's heartbeat round", 10*time.Second, func() bool {
		s2.mu.Lock()
		defer s2.mu.Unlock()
		return s2.obj != nil
	})
	again := dav.take()
	if len(again) != 4 || again[0] != "PROPFIND /"+peersDir+"/ d1" {
		t.Errorf("first heartbeat round after a restart: %d requests %q, want 4: the listing, then the update (MKCOL, PUT, PROPFIND)", len(again), again)
	}
	if files, _ := os.ReadDir(dir + "/" + peersDir); len(files) != 1 {
		t.Errorf("heartbeats on the remote after the restart: %d, want 1", len(files))
	}
}

// restic's lock cycle of a short command on WebDAV: the lock's upload and
// delete cost nothing (write-behind), and neither does the background
// after it; the one request is the listing restic asks for.
func TestShortLockCycleOnWebDAV(t *testing.T) {
	f, dav, _ := davRemote(t)
	s := newStore(t, f, Options{LockUploadDelay: time.Hour, StateDir: t.TempDir()})
	if err := s.CreateRepo(context.Background(), "repo"); err != nil {
		t.Fatal(err)
	}
	dav.take()
	h, _ := obj("a lock of a short command")
	put(t, s, h, "a lock of a short command")
	if got := names(t, s, "repo", Locks); len(got) != 1 {
		t.Fatalf("locks/ lists %v", got)
	}
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	s.runDue(context.Background(), time.Now().Add(confirmMinAge+time.Second))
	if got := dav.take(); len(got) != 1 || got[0] != "PROPFIND /repo/locks/ d1" {
		t.Errorf("a short lock cycle and a background round after it: %q, want only restic's listing of locks/", got)
	}
}

// davCount counts the requests of reqs by kind: folder listings
// (PROPFIND depth 1), lookups (depth 0), and the rest by method.
func davCount(reqs []string) map[string]int {
	out := map[string]int{}
	for _, r := range reqs {
		method, rest, _ := strings.Cut(r, " ")
		switch {
		case method == "PROPFIND" && strings.HasSuffix(rest, " d1"):
			out["list"]++
		case method == "PROPFIND":
			out["lookup"]++
		default:
			out[method]++
		}
	}
	return out
}

// A prune's deletes over K prefix folders on WebDAV, counted at the
// server: while deleting, only the DELETEs; after, at most one listing per
// folder and no lookup prove them. Before: the confirmer looked each
// deleted pack up, round after round.
func TestPruneBurstOnWebDAV(t *testing.T) {
	const n, k = 48, 4
	f, dav, _ := davRemote(t)
	hs := burstPacks(t, f, n, k)
	s := newStore(t, f, Options{StateDir: t.TempDir()})
	if got := len(names(t, s, "repo", Data)); got != n {
		t.Fatalf("data/ lists %d packs, want %d", got, n)
	}
	dav.take()
	var during []string
	removeBurst(t, s, hs, 150*time.Millisecond, func() { during = append(during, dav.take()...) })
	if got := davCount(during); got["DELETE"] != n || len(got) != 1 {
		t.Errorf("during the burst: %v, want only %d DELETE", got, n)
	}
	testutil.Eventually(t, "the deletes to be confirmed", time.Minute, func() bool {
		return s.ov.counts().tombstones == 0
	})
	if got := davCount(dav.take()); got["list"] > k || len(got) > 1 {
		t.Errorf("after the burst: %v, want at most %d listings and nothing else", got, k)
	}
}

// Six pack uploads on WebDAV, confirmed by the store's own background:
// the lookups of the packs at the server are rclone's read-back after
// each upload, as through rclone serve restic, and no more. What the
// upload returned proves the write; a listing of each folder, once, shows
// that listings have caught up. Before: 12, the confirmer looked each
// fresh pack up again.
func TestPackUploadsLookupsOnWebDAV(t *testing.T) {
	f, dav, _ := davRemote(t)
	s := newStore(t, f, Options{StateDir: t.TempDir()})
	if err := s.CreateRepo(context.Background(), "repo"); err != nil {
		t.Fatal(err)
	}
	dav.take()
	packs := newPacks(6, true)
	for _, data := range packs {
		sum := sha256.Sum256(data)
		h := Handle{Repo: "repo", Type: Data, Name: hex.EncodeToString(sum[:])}
		if err := s.Put(context.Background(), h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum[:]}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "the uploads to be confirmed", time.Minute, func() bool {
		return s.ov.counts().created == 0
	})
	reqs := dav.take()
	got := davCount(reqs)
	if got["lookup"] > len(packs) || got["list"] > len(packs) {
		t.Errorf("%d pack uploads and their confirmation: %v (%q), want at most %d lookups (rclone's read-backs) and %d listings",
			len(packs), got, reqs, len(packs), len(packs))
	}
	t.Logf("requests: %v", got)
}
