package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/pcloud" // the handle that keeps state
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// Readers of one object share its handle (a listing's, or the upload's),
// and some backends keep state in a handle: rclone's pcloud Object caches
// its download link in Open, unlocked. Concurrent reads of one object (six
// restic processes reading the same index after a restart) must not race
// on it; under -race this fails when they do.
func TestConcurrentReadsOfOneHandle(t *testing.T) {
	srv, err := pcloudemu.New(pcloudemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	f, err := fs.NewFs(context.Background(), srv.RcloneRemote()+"repo")
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, f, Options{StateDir: t.TempDir(), ContentCacheBytes: -1})
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sum := sha256.Sum256(data)
	h := Handle{Repo: "r", Type: Data, Name: hex.EncodeToString(sum[:])}
	put(t, s, h, string(data))

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			o, err := s.Lookup(context.Background(), h)
			if err != nil {
				t.Error(err)
				return
			}
			rc, err := o.Open(context.Background(), 0, -1)
			if err != nil {
				t.Error(err)
				return
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil || string(b) != string(data) {
				t.Errorf("read %d bytes, err %v; want the %d written", len(b), err, len(data))
			}
		})
	}
	wg.Wait()
}

// A handle past handleTTL no longer answers a lookup, but a delete still
// uses it (a prune deletes for minutes from one listing); past
// deleteHandleTTL it is gone.
func TestHandleAgesForLookupAndDelete(t *testing.T) {
	f := testutil.LagFs(t)
	c := newHandleCache()
	obj, err := f.Put(context.Background(), strings.NewReader("x"), object.NewStaticObjectInfo("x", time.Now(), 1, true, nil, f))
	if err != nil {
		t.Fatal(err)
	}
	c.add("old", obj, time.Now().Add(-handleTTL-time.Second))
	if c.get("old") != nil {
		t.Error("a lookup got a handle past handleTTL")
	}
	if c.forDelete("old") == nil {
		t.Error("a delete lost a handle younger than deleteHandleTTL")
	}
	c.add("older", obj, time.Now().Add(-deleteHandleTTL-time.Second))
	if c.forDelete("older") != nil || c.lru.Contains("older") {
		t.Error("a handle past deleteHandleTTL was kept")
	}
}
