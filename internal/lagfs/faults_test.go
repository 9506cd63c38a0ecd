package lagfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/fserrors"
	"github.com/rclone/rclone/fs/object"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

func tryPut(f fs.Fs, remote string, data []byte) (fs.Object, error) {
	src := object.NewStaticObjectInfo(remote, time.Now(), int64(len(data)), true, nil, nil)
	return f.Put(context.Background(), bytes.NewReader(data), src)
}

func TestFailPutAfter(t *testing.T) {
	for name, remote := range backends(t) {
		t.Run(name, func(t *testing.T) {
			f := newLag(t, remote, "fail_put_after=1000")
			data := bytes.Repeat([]byte("x"), 5000)
			o, err := tryPut(f, "dir/cut", data)
			if err == nil {
				t.Fatalf("Put succeeded through fail_put_after (obj %v)", o)
			}
			if !errors.Is(err, ErrMidStream) || !fserrors.IsRetryError(err) {
				t.Fatalf("Put error %v: want a retryable ErrMidStream", err)
			}
			if _, err := f.NewObject(context.Background(), "dir/cut"); !errors.Is(err, fs.ErrorObjectNotFound) {
				t.Fatalf("after a cut upload NewObject = %v, want not found", err)
			}
			if name == "local" {
				if files := testutil.FilesBelow(t, remote); len(files) != 0 {
					t.Fatalf("a cut upload left files behind: %v", files)
				}
			}
			// A body shorter than the cut point also fails (at its end).
			if _, err := tryPut(f, "dir/short", []byte("tiny")); !errors.Is(err, ErrMidStream) {
				t.Fatalf("short Put error %v, want ErrMidStream", err)
			}
			if st := f.Stats(); st.MidPut != 2 {
				t.Fatalf("MidPut = %d, want 2", st.MidPut)
			}
		})
	}
}

func TestFaultRate(t *testing.T) {
	f := newLag(t, backends(t)["memory"], "fail_put_after=0,fault_rate=0.3,seed=7")
	fails := 0
	const n = 200
	for i := range n {
		if _, err := tryPut(f, "r/"+strings.Repeat("a", i%5+1)+string(rune('a'+i%26)), []byte("data")); err != nil {
			if !errors.Is(err, ErrMidStream) {
				t.Fatalf("unexpected error: %v", err)
			}
			fails++
		}
	}
	if fails < n*15/100 || fails > n*45/100 {
		t.Fatalf("%d of %d puts cut with fault_rate=0.3", fails, n)
	}
	if int64(fails) != f.Stats().MidPut {
		t.Fatalf("MidPut %d != failures %d", f.Stats().MidPut, fails)
	}
}

func TestFailGetAfter(t *testing.T) {
	for name, remote := range backends(t) {
		t.Run(name, func(t *testing.T) {
			plain := newLag(t, remote, "")
			put(t, plain, "obj", strings.Repeat("y", 4000))
			f := newLag(t, remote, "fail_get_after=1500")
			o, err := f.NewObject(context.Background(), "obj")
			if err != nil {
				t.Fatal(err)
			}
			rc, err := o.Open(context.Background())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			b, err := io.ReadAll(rc)
			if cerr := rc.Close(); cerr != nil {
				t.Fatalf("Close: %v", cerr)
			}
			if len(b) != 1500 || !errors.Is(err, ErrMidStream) || !fserrors.IsRetryError(err) {
				t.Fatalf("read %d bytes, err %v; want 1500 and a retryable ErrMidStream", len(b), err)
			}
			if testutil.ReadObject(context.Background(), t, mustObj(t, plain, "obj")) != strings.Repeat("y", 4000) {
				t.Fatal("object damaged by a cut download")
			}
		})
	}
}

func mustObj(t *testing.T, f fs.Fs, remote string) fs.Object {
	t.Helper()
	o, err := f.NewObject(context.Background(), remote)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDenyOps(t *testing.T) {
	remote := backends(t)["local"]
	plain := newLag(t, remote, "")
	put(t, plain, "keep", "kept")
	f := newLag(t, remote, `deny_ops="put,delete"`)
	_, err := tryPut(f, "new", []byte("n"))
	if !errors.Is(err, fs.ErrorPermissionDenied) || !errors.Is(err, syscall.EACCES) ||
		!errors.Is(err, os.ErrPermission) || !fserrors.IsNoRetryError(err) {
		t.Fatalf("denied Put error %v: want permission denied, EACCES, no-retry", err)
	}
	o := mustObj(t, f, "keep") // stat is allowed
	if err := o.Remove(context.Background()); !errors.Is(err, fs.ErrorPermissionDenied) {
		t.Fatalf("denied Remove error %v", err)
	}
	if testutil.ReadObject(context.Background(), t, o) != "kept" {
		t.Fatal("read through deny_ops=put,delete failed")
	}
	if st := f.Stats(); st.Denied != 2 {
		t.Fatalf("Denied = %d, want 2", st.Denied)
	}
	if _, err := fs.NewFs(context.Background(), testutil.LagSpec(remote, "deny_ops=bogus")); err == nil {
		t.Fatal("deny_ops=bogus accepted")
	}
}

func TestQuotaBytes(t *testing.T) {
	for name, remote := range backends(t) {
		t.Run(name, func(t *testing.T) {
			plain := newLag(t, remote, "")
			put(t, plain, "old", strings.Repeat("o", 400)) // counted by the first walk
			f := newLag(t, remote, "quota_bytes=1000")
			put(t, f, "a", strings.Repeat("a", 500))
			_, err := tryPut(f, "b", bytes.Repeat([]byte("b"), 200))
			if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrQuota) || !fserrors.IsNoRetryError(err) {
				t.Fatalf("over-quota Put error %v: want ENOSPC, no-retry", err)
			}
			if _, err := f.NewObject(context.Background(), "b"); !errors.Is(err, fs.ErrorObjectNotFound) {
				t.Fatalf("refused upload exists: %v", err)
			}
			// Removing frees space.
			if err := mustObj(t, f, "a").Remove(context.Background()); err != nil {
				t.Fatal(err)
			}
			put(t, f, "b", strings.Repeat("b", 200))
			if st := f.Stats(); st.OverQuota != 1 {
				t.Fatalf("OverQuota = %d, want 1", st.OverQuota)
			}
		})
	}
}
