package overlay

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"
	"github.com/rclone/rclone/lib/file"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// cleanupRemote behaves like rclone's pcloud backend after a failed
// upload: it waits (here until gate closes, there 5 s of sleeps) and then
// deletes whatever is under the name, through a call that needs the
// context, as any network call does. It notes what it did, in order.
type cleanupRemote struct {
	fs.Fs
	gate chan struct{}

	notes testutil.List[string]
}

func (f *cleanupRemote) note(s string) {
	f.notes.Add(s)
}

// Put stores nothing of a body it could not read whole (pcloud's
// nopartial=1), so what was under the name before is untouched until the
// clean-up.
func (f *cleanupRemote) Put(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error) {
	body, err := io.ReadAll(in)
	if err == nil {
		obj, err := f.Fs.Put(ctx, bytes.NewReader(body), src, options...)
		if err == nil {
			f.note("stored")
		}
		return obj, err
	}
	<-f.gate
	if ctx.Err() == nil {
		if o, lerr := f.Fs.NewObject(ctx, src.Remote()); lerr == nil {
			_ = o.Remove(ctx)
			f.note("clean-up removed the object")
		}
	}
	f.note("clean-up done")
	return nil, err
}

// A rejected streamed upload cancels the backend's context, so the
// backend's clean-up by name cannot remove the complete object already
// under the name, and answers only after that clean-up, so a retry of the
// name comes after it.
func TestRejectedUploadDoesNotLoseToBackendCleanup(t *testing.T) {
	base, _ := testutil.LagRemote(t)
	f := &cleanupRemote{Fs: base, gate: make(chan struct{})}
	s := newStore(t, f, Options{ContentMaxObject: 1024}) // 4 KiB bodies stream
	good := strings.Repeat("g", 4096)
	h, _ := obj(good)
	h.Type = Data
	put(t, s, h, good)

	// The same name with another body: the SHA-256 does not match.
	rejected := make(chan error, 1)
	go func() { rejected <- putBody(s, h, strings.Repeat("b", 4096)) }()
	close(f.gate) // the backend's clean-up of the rejected upload may run
	if err := <-rejected; !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("bad body: %v, want ErrHashMismatch", err)
	}
	if err := putBody(s, h, good); err != nil {
		t.Fatalf("retried upload: %v", err)
	}
	notes := strings.Join(f.notes.All(), ", ")
	if want := "stored, clean-up done, stored"; notes != want {
		t.Errorf("backend saw %q, want %q (the retry after the clean-up, which removes nothing)", notes, want)
	}
	if got, err := read(t, s, h); err != nil || got != good {
		t.Errorf("after the rejected upload the object reads %d bytes, %v; want the good body", len(got), err)
	}
	o, err := base.NewObject(context.Background(), h.remotePath())
	if err != nil || o.Size() != int64(len(good)) {
		t.Errorf("on the remote: %v, %v; want the good object", o, err)
	}
}

// During a shutdown a rejected upload is answered without waiting for the
// backend's clean-up (pcloud's takes 5 s), which Close then waits for only
// briefly.
func TestRejectedUploadDuringShutdownDoesNotWait(t *testing.T) {
	base, _ := testutil.LagRemote(t)
	f := &cleanupRemote{Fs: base, gate: make(chan struct{})}
	s := newStore(t, f, Options{ContentMaxObject: 1024})
	h, _ := obj(strings.Repeat("g", 4096))
	h.Type = Data
	s.Stop()

	rejected := make(chan error, 1)
	go func() { rejected <- putBody(s, h, strings.Repeat("b", 4096)) }()
	select {
	case err := <-rejected:
		if !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("bad body: %v, want ErrHashMismatch", err)
		}
	case <-time.After(time.Minute): // a liveness bound, not a speed claim
		t.Fatal("a rejected upload during shutdown waits for the backend's clean-up")
	}
	close(f.gate)
}

// putBody uploads body under h, which names the SHA-256 it must have.
func putBody(s *Store, h Handle, body string) error {
	sum, err := hex.DecodeString(h.Name)
	if err != nil {
		return err
	}
	return s.Put(context.Background(), h, strings.NewReader(body), int64(len(body)), PutOptions{SHA256: sum})
}

// fullRemote fails every upload the way rclone's local backend does on a
// full disk: the file is created under its final name, preallocation fails
// ("preallocate: file too big for remaining disk space", no errno), and
// the empty file stays.
type fullRemote struct{ fs.Fs }

func (f *fullRemote) Put(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error) {
	_, _ = io.CopyN(io.Discard, in, 1024) // the backend read part of the body
	info := object.NewStaticObjectInfo(src.Remote(), time.Now(), 0, true, nil, f.Fs)
	if _, err := f.Fs.Put(ctx, bytes.NewReader(nil), info, options...); err != nil {
		return nil, err
	}
	return nil, file.ErrDiskFull
}

// checkFullDiskUpload uploads data under h to a store whose remote is
// full, and checks that the upload is refused as storage-full (507, not a
// 503 restic retries for 15 minutes) and leaves nothing: no file on the
// remote, nothing visible, and a retry is refused the same way, not as an
// overwrite of the leftover.
func checkFullDiskUpload(t *testing.T, s *Store, root string, h Handle, data string) {
	t.Helper()
	err := tryPut(s, h, data)
	if !errors.Is(err, ErrInsufficientStorage) {
		t.Errorf("upload to a full disk: %v, want ErrInsufficientStorage", err)
	}
	if onDisk(root, h.remotePath()) {
		t.Errorf("the failed upload left %s on the remote", h.remotePath())
	}
	if _, err := s.Lookup(context.Background(), h); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup after the failed upload: %v, want ErrNotFound", err)
	}
	sum, _ := hex.DecodeString(h.Name)
	err = s.Put(context.Background(), h, strings.NewReader(data), int64(len(data)), PutOptions{SHA256: sum, NoOverwrite: true})
	if errors.Is(err, ErrExists) || !errors.Is(err, ErrInsufficientStorage) {
		t.Errorf("append-only retry of the failed upload: %v, want ErrInsufficientStorage", err)
	}
}

// A full local disk, as rclone's local backend reports it, leaves nothing
// under the final name, for a streamed pack and for a small object alike.
func TestFullDiskUploadLeavesNothing(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, &fullRemote{localRemote(t, root)}, Options{ContentMaxObject: 1024})
	pack := strings.Repeat("p", 8192)
	checkFullDiskUpload(t, s, root, handleOf(Data, pack), pack)
	checkFullDiskUpload(t, s, root, handleOf(Snapshots, "small"), "small")
}

// The real thing: rclone's local backend on a 20 MiB tmpfs, filled with
// 4 MiB packs until one does not fit.
func TestFullTmpfsUploadLeavesNothing(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=20m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(root, 0) })
	s := newStore(t, localRemote(t, root), Options{})
	for i := range 8 {
		pack := strings.Repeat(string(rune('a'+i)), 4<<20)
		h := handleOf(Data, pack)
		if err := tryPut(s, h, pack); err == nil {
			continue
		}
		checkFullDiskUpload(t, s, root, h, pack)
		return
	}
	t.Fatal("eight 4 MiB packs fit on a 20 MiB tmpfs")
}

// What a failed or rejected upload may remove: never a complete object,
// nor an earlier config it cannot tell from one.
func TestLeftover(t *testing.T) {
	for _, c := range []struct {
		key               string
		got, size, before int64
		want              bool
	}{
		{"repo/data/ab/x", 0, 4096, -1, true},
		{"repo/data/ab/x", 1024, 4096, -1, true},
		{"repo/data/ab/x", 4096, 4096, -1, false},
		{"repo/config", 0, 155, -1, true},
		{"repo/config", 150, 155, -1, false}, // an earlier config, whole
		{"repo/config", 150, 155, 150, false},
		{"repo/config", 10, 155, 150, true},
	} {
		k, _ := parseKey(c.key)
		if got := leftover(k, c.got, c.size, c.before); got != c.want {
			t.Errorf("leftover(%s, got %d, size %d, before %d) = %v, want %v", c.key, c.got, c.size, c.before, got, c.want)
		}
	}
}
