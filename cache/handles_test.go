package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sync"
	"testing"

	_ "github.com/rclone/rclone/backend/pcloud" // the handle that keeps state
	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
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
