package cache

import (
	"context"
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
