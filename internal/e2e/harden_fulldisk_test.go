package e2e

import (
	"bytes"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
)

// Issue 21 item 4: the local remote on a 20 MiB tmpfs. The upload that
// does not fit answers 507 (restic stops at once; a 503 it retries for
// 15 minutes), leaves no file, HEAD answers 404, and under --append-only
// a retry is not refused as an overwrite (403).
func TestHardenFullDiskUpload(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=20m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(root, 0) })
	srv := hardenServer(t, root, t.TempDir(), "--append-only")
	for i := range 8 {
		pack := bytes.Repeat([]byte{byte('a' + i)}, 4<<20)
		api, file := objectPath("data", pack)
		code := call(t, srv, http.MethodPost, api, pack)
		if code == http.StatusOK {
			continue
		}
		if code != http.StatusInsufficientStorage {
			t.Errorf("upload %d to a full disk: %d, want 507", i+1, code)
		}
		if exists(filepath.Join(root, file)) {
			t.Errorf("the failed upload left %s", file)
		}
		if code := call(t, srv, http.MethodHead, api, nil); code != http.StatusNotFound {
			t.Errorf("HEAD after the failed upload: %d, want 404", code)
		}
		if code := call(t, srv, http.MethodPost, api, pack); code != http.StatusInsufficientStorage {
			t.Errorf("retry under --append-only: %d, want 507", code)
		}
		return
	}
	t.Fatal("eight 4 MiB packs fit on a 20 MiB tmpfs")
}
