package lagfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/fserrors"
	"github.com/rclone/rclone/fs/walk"
)

// Errors produced by the fault knobs. Each is wrapped the way a real
// backend's error would be, so that code classifying rclone errors sees
// what it would see from a real remote.
var (
	// ErrMidStream is wrapped (inside an fserrors.RetryError) by the error
	// a body or download reader returns when fail_put_after/fail_get_after
	// cuts it.
	ErrMidStream = errors.New("lag: injected mid-stream failure: connection reset")
	// ErrDenied is the permission error deny_ops answers with. It wraps
	// both fs.ErrorPermissionDenied and syscall.EACCES (what the local
	// backend returns), inside an fserrors.NoRetryError.
	ErrDenied = fmt.Errorf("lag: injected: %w (%w)", fs.ErrorPermissionDenied, syscall.EACCES)
	// ErrQuota is the error quota_bytes answers with: it wraps
	// syscall.ENOSPC, as a full local disk would, inside an
	// fserrors.NoRetryError.
	ErrQuota = fmt.Errorf("lag: injected: quota exceeded, 507 insufficient storage: %w", syscall.ENOSPC)
)

// denied fails op when deny_ops lists it.
func (f *Fs) denied(op, what string) error {
	if !f.denyOps[op] {
		return nil
	}
	f.stats.denied.Add(1)
	return fserrors.NoRetryError(fmt.Errorf("lag: %s %q: %w", op, what, ErrDenied))
}

// cutPut decides whether this upload is cut mid-stream.
func (f *Fs) cutPut() bool {
	return f.opt.FailPutAfter >= 0 && f.chance(f.opt.FaultRate)
}

// cutGet decides whether this download is cut mid-stream.
func (f *Fs) cutGet() bool {
	return f.opt.FailGetAfter >= 0 && f.chance(f.opt.FaultRate)
}

// cutReader passes n bytes through, then fails with a retryable error. A
// stream shorter than n fails at its end instead of reporting EOF, so
// every chosen call fails whatever the object's size.
type cutReader struct {
	r    io.Reader
	left int64
	err  error
}

func newCutReader(r io.Reader, n int64, what string) *cutReader {
	return &cutReader{r: r, left: n, err: fserrors.RetryError(fmt.Errorf("lag: %q after %d bytes: %w", what, n, ErrMidStream))}
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, c.err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if errors.Is(err, io.EOF) {
		return n, c.err
	}
	return n, err
}

// cutReadCloser is a cutReader over a download that still closes it.
type cutReadCloser struct {
	*cutReader
	c io.Closer
}

func (c cutReadCloser) Close() error { return c.c.Close() }

// quota tracks the bytes stored for quota_bytes: one walk of the lag Fs's
// root at first use, then the puts and removes made through lag in this
// process. Out-of-band changes are not seen.
type quota struct {
	mu    sync.Mutex
	known bool
	used  int64
}

// reserve checks that size more bytes fit under quota_bytes and counts
// them; an upload that then fails gives them back with release.
func (f *Fs) reserve(ctx context.Context, remote string, size int64) error {
	if f.opt.QuotaBytes < 0 {
		return nil
	}
	q := &f.st.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.known {
		var used int64
		err := walk.ListR(ctx, f.base, "", true, -1, walk.ListObjects, func(entries fs.DirEntries) error {
			for _, e := range entries {
				if o, ok := e.(fs.Object); ok && o.Size() > 0 {
					used += o.Size()
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrorDirNotFound) {
			return fmt.Errorf("lag: measure used space for quota_bytes: %w", err)
		}
		q.used, q.known = used, true
	}
	if size > 0 && q.used+size > f.opt.QuotaBytes {
		f.stats.overQuota.Add(1)
		return fserrors.NoRetryError(fmt.Errorf("lag: put %q (%d bytes, %d of %d used): %w",
			remote, size, q.used, f.opt.QuotaBytes, ErrQuota))
	}
	if size > 0 {
		q.used += size
	}
	return nil
}

// release gives back size bytes after a removal or a failed put.
func (f *Fs) release(size int64) {
	if f.opt.QuotaBytes < 0 || size <= 0 {
		return
	}
	q := &f.st.quota
	q.mu.Lock()
	if q.known {
		q.used = max(0, q.used-size)
	}
	q.mu.Unlock()
}
