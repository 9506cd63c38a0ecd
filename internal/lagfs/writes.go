package lagfs

// Writes pass through to the wrapped remote; the lag starts when they
// return.

import (
	"context"
	"errors"
	"io"

	"github.com/rclone/rclone/fs"
)

// Put uploads to the wrapped remote; the object then stays invisible to
// lookups for create_lag, but the returned handle works at once.
func (f *Fs) Put(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error) {
	f.stats.put.Add(1)
	return f.put(ctx, f.base.Put, in, src, options...)
}

// PutStream uploads an object of unknown size, like Put.
func (f *Fs) PutStream(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error) {
	f.stats.put.Add(1)
	do := f.base.Features().PutStream
	if do == nil {
		return nil, errors.New("lag: PutStream not supported by the wrapped remote")
	}
	return f.put(ctx, do, in, src, options...)
}

type putFn func(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error)

func (f *Fs) put(ctx context.Context, do putFn, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error) {
	if err := f.enter(ctx, OpPut, src.Remote()); err != nil {
		return nil, err
	}
	size := src.Size()
	if err := f.reserve(ctx, src.Remote(), size); err != nil {
		return nil, err
	}
	if f.cutPut() {
		f.stats.midPut.Add(1)
		in = newCutReader(in, int64(f.opt.FailPutAfter), "put "+src.Remote())
	}
	o, err := do(ctx, in, src, options...)
	if o == nil || err != nil {
		f.release(size)
	}
	if o != nil {
		// The remote may hold the object even when the call failed.
		f.wrote(src.Remote())
		lo := &Object{Object: o, f: f}
		lo.handle.Store(true)
		return lo, err
	}
	return nil, err
}

// Mkdir makes dir on the wrapped remote.
func (f *Fs) Mkdir(ctx context.Context, dir string) error {
	f.stats.mkdir.Add(1)
	if err := f.enter(ctx, OpPut, dir); err != nil {
		return err
	}
	return f.base.Mkdir(ctx, dir)
}

// Rmdir removes dir from the wrapped remote.
func (f *Fs) Rmdir(ctx context.Context, dir string) error {
	f.stats.rmdir.Add(1)
	if err := f.enter(ctx, OpDelete, dir); err != nil {
		return err
	}
	return f.base.Rmdir(ctx, dir)
}

// About reports the wrapped remote's quota.
func (f *Fs) About(ctx context.Context) (*fs.Usage, error) {
	f.stats.about.Add(1)
	if err := f.enter(ctx, OpStat, ""); err != nil {
		return nil, err
	}
	do := f.base.Features().About
	if do == nil {
		return nil, errors.New("lag: About not supported by the wrapped remote")
	}
	return do(ctx)
}

// Shutdown passes through to the wrapped remote.
func (f *Fs) Shutdown(ctx context.Context) error {
	if do := f.base.Features().Shutdown; do != nil {
		return do(ctx)
	}
	return nil
}
