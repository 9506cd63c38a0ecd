package overlay

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/fserrors"
	"github.com/rclone/rclone/lib/file"

	"github.com/steadyrest/steadyrest/internal/lagfs"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

func tryPut(s *Store, h Handle, data string) error {
	sum := sha256.Sum256([]byte(data))
	return s.Put(context.Background(), h, strings.NewReader(data), int64(len(data)), PutOptions{SHA256: sum[:]})
}

func TestClassifyFailures(t *testing.T) {
	for _, c := range []struct {
		err  error
		want failure
	}{
		{errors.New("connection reset"), failTransient},
		{fserrors.RetryError(errors.New("503")), failTransient},
		{&os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, failStorage},
		{&os.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT}, failStorage},
		{&os.PathError{Op: "write", Path: "/x", Err: syscall.EFBIG}, failStorage},
		{file.ErrDiskFull, failStorage},
		{errors.New("sftp: file too large"), failStorage},
		{errors.New("pcloud error: User is over quota. (2008)"), failStorage},
		{errors.New("HTTP error 507 (507 Insufficient Storage)"), failStorage},
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, failDenied},
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.EPERM}, failDenied},
		{fmt.Errorf("wrapped: %w", fs.ErrorPermissionDenied), failDenied},
		{fserrors.NoRetryError(errors.New("bad request")), failPermanent},
		{lagfs.ErrQuota, failStorage},
		{lagfs.ErrDenied, failDenied},
	} {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %v, want %v", c.err, got, c.want)
		}
		re := &RemoteError{Op: "op", Err: c.err}
		if errors.Is(re, ErrPermanent) != (c.want != failTransient) || isPermanent(re) != (c.want != failTransient) {
			t.Errorf("%v: permanent = %v, want %v", c.err, errors.Is(re, ErrPermanent), c.want != failTransient)
		}
	}
}

func TestPutOverQuotaIsInsufficientStorage(t *testing.T) {
	f, dir := testutil.LagRemote(t, "quota_bytes=100")
	s := newStore(t, f, Options{})
	h, _ := obj(strings.Repeat("q", 200))
	err := tryPut(s, h, strings.Repeat("q", 200))
	if !errors.Is(err, ErrInsufficientStorage) || !isPermanent(err) {
		t.Fatalf("Put over quota: %v, want ErrInsufficientStorage", err)
	}
	if !strings.Contains(err.Error(), "insufficient storage") {
		t.Fatalf("error text %q does not say what happened", err)
	}
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("refused upload left %v", files)
	}
	if _, err := s.Lookup(context.Background(), h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused upload is visible: %v", err)
	}
}

func TestPutDeniedIsPermissionDenied(t *testing.T) {
	f, _ := testutil.LagRemote(t, `deny_ops="put"`)
	s := newStore(t, f, Options{})
	h, _ := obj("denied")
	start := time.Now()
	err := tryPut(s, h, "denied")
	if !errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrInsufficientStorage) {
		t.Fatalf("denied Put: %v, want ErrPermissionDenied", err)
	}
	if lf, _ := lagfs.FromFs(f); lf.Stats().Put != 1 {
		t.Fatalf("store called Put %d times for a permanent failure, want 1", lf.Stats().Put)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("denied Put took %v", d)
	}
}

func TestPutCutMidStreamStoresNothing(t *testing.T) {
	f, dir := testutil.LagRemote(t, "fail_put_after=300")
	s := newStore(t, f, Options{})
	for i := range 5 {
		data := strings.Repeat(fmt.Sprint(i), 2000)
		h, _ := obj(data)
		h.Type = Data
		err := tryPut(s, h, data)
		var re *RemoteError
		if !errors.As(err, &re) || isPermanent(err) || !errors.Is(err, lagfs.ErrMidStream) {
			t.Fatalf("cut Put: %v, want a transient RemoteError", err)
		}
		if _, err := s.Lookup(context.Background(), h); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cut upload is visible: %v", err)
		}
	}
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("cut uploads left files under final names: %v", files)
	}
}

// A read of a recent upload retries the remote while it lags, but not when
// the remote refuses for good.
func TestRecentReadDoesNotRetryPermanent(t *testing.T) {
	dir := t.TempDir()
	plain, err := fs.NewFs(context.Background(), testutil.LagSpec(dir))
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, plain, Options{ContentCacheBytes: -1, readRetry: 10 * time.Second})
	h, _ := obj("recent")
	if err := tryPut(s, h, "recent"); err != nil {
		t.Fatal(err)
	}
	denied, err := fs.NewFs(context.Background(), testutil.LagSpec(dir, "deny_ops=get"))
	if err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, denied, Options{ContentCacheBytes: -1, readRetry: 10 * time.Second})
	// s2 learns of the object as a recent write through the overlay.
	// s2 learns of the object as a recent write through the overlay,
	// without the upload's handle (as after a restart).
	rec, _, _ := s.ov.get(context.Background(), h.key())
	rec.obj = nil
	mem(s2).set(rec, nil)
	o, err := s2.Lookup(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = o.Open(context.Background(), 0, -1)
	if !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("Open through deny_ops=get: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a permanent read failure was retried for %v", d)
	}
}

// The journal is below the acknowledgement: if it cannot be written, the
// upload fails (the proxy answers 500) and restic will retry it.
func TestJournalWriteFailureFailsPut(t *testing.T) {
	f, _ := testutil.LagRemote(t)
	s, err := New(f, Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, _ := obj("journal")
	if err := tryPut(s, h, "journal"); err != nil {
		t.Fatal(err)
	}
	// Pull the journal from under the store.
	if err := mem(s).journal.db.Close(); err != nil {
		t.Fatal(err)
	}
	h2, _ := obj("journal2")
	err = tryPut(s, h2, "journal2")
	if err == nil {
		t.Fatal("Put acknowledged without a journal record")
	}
	var re *RemoteError
	if errors.As(err, &re) || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("journal failure reported as %v (%T); want a non-remote error naming the journal", err, err)
	}
	if _, ok, _ := s.ov.get(context.Background(), h2.key()); ok {
		t.Fatal("an unjournaled upload entered the overlay")
	}
	// A delete cannot be promised either.
	if err := s.Remove(context.Background(), h); err == nil || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("Remove without a journal: %v", err)
	}
}

// restic writes config at init; a restart inside the settle window must
// reload its journal record and serve, not refuse to start.
func TestRestartAfterConfigWrite(t *testing.T) {
	f, _ := testutil.LagRemote(t)
	state := t.TempDir()
	s, err := New(f, Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Handle{Repo: "repo", Type: Config}
	if err := s.Put(context.Background(), cfg, strings.NewReader("cfg"), 3, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(f, Options{StateDir: state})
	if err != nil {
		t.Fatalf("restart after a config write: %v", err)
	}
	defer s2.Close()
	if o, err := s2.Lookup(context.Background(), cfg); err != nil || o.Size() != 3 {
		t.Fatalf("config after restart: %v", err)
	}
}

// A delete the remote refuses for good is not absorbed: the client is
// told, the object stays visible, and the journal keeps the create.
func TestDeleteDeniedIsRefused(t *testing.T) {
	f, _ := testutil.LagRemote(t, `deny_ops="delete"`)
	state := t.TempDir()
	s, err := New(f, Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := obj("cannot delete")
	put(t, s, h, "cannot delete")
	if err := s.Remove(context.Background(), h); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("denied delete: %v, want ErrPermissionDenied", err)
	}
	if got, err := read(t, s, h); err != nil || got != "cannot delete" {
		t.Fatalf("object after a refused delete: %q, %v", got, err)
	}
	if st := s.Stats(); st.Tombstones+st.PendingReaps != 0 || st.Events[EventDeleteAbsorbed] != 0 {
		t.Fatalf("a refused delete left a tombstone: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, f, Options{StateDir: state})
	if st := s2.Stats(); st.Created != 1 || st.Tombstones+st.PendingReaps != 0 {
		t.Fatalf("journal after a refused delete: %+v", st)
	}
}

// countingObserver counts the store's own retries.
type countingObserver struct {
	nopObserver
	retries atomic.Int64
}

func (c *countingObserver) Retry(string) { c.retries.Add(1) }

// Small uploads are retried by the store when the remote fails in a way
// that may heal, so restic never sees those failures.
func TestSmallUploadRetriesTransientFailures(t *testing.T) {
	f, _ := testutil.LagRemote(t, `error_rate=0.1,error_ops="put",seed=7`)
	obs := &countingObserver{}
	s := newStore(t, f, Options{Observer: obs})
	for i := range 10 {
		data := fmt.Sprintf("lock %d", i)
		h, _ := obj(data)
		if err := tryPut(s, h, data); err != nil {
			t.Fatalf("put %d: %v (after %d retries in all)", i, err, obs.retries.Load())
		}
	}
	if obs.retries.Load() == 0 {
		t.Fatal("no put was retried: the fault knob did not bite")
	}
	t.Logf("10 uploads through a 10%% put failure rate: %d retries", obs.retries.Load())
}
