package lagfs

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
)

// Object is an object of the wrapped remote seen through the lag.
type Object struct {
	fs.Object
	f *Fs
	// handle marks the object returned by Put/Update: like a pCloud file
	// id, it can be opened and hashed while lookups by name still fail.
	handle atomic.Bool
}

// Fs returns the lag Fs the object belongs to.
func (o *Object) Fs() fs.Info { return o.f }

// String describes the object.
func (o *Object) String() string {
	if o == nil {
		return "<nil>"
	}
	return o.Object.String()
}

// UnWrap returns the wrapped remote's object.
func (o *Object) UnWrap() fs.Object { return o.Object }

// MimeType passes the wrapped object's content type through.
func (o *Object) MimeType(ctx context.Context) string {
	if do, ok := o.Object.(fs.MimeTyper); ok {
		return do.MimeType(ctx)
	}
	return ""
}

// Open reads the object. A handle from a name lookup fails while the create
// lag hides the name; the handle Put returned works.
func (o *Object) Open(ctx context.Context, options ...fs.OpenOption) (io.ReadCloser, error) {
	o.f.stats.open.Add(1)
	if err := o.f.enter(ctx, OpGet, o.Remote()); err != nil {
		return nil, err
	}
	if !o.handle.Load() && o.f.hidden(o.Remote()) {
		return nil, fs.ErrorObjectNotFound
	}
	rc, err := o.Object.Open(ctx, options...)
	if err == nil && o.f.cutGet() {
		o.f.stats.midGet.Add(1)
		rc = cutReadCloser{newCutReader(rc, o.f.opt.FailGetAfter, "get "+o.Remote()), rc}
	}
	return rc, err
}

// Update overwrites the object; the new version is then hidden for
// create_lag like a fresh Put.
func (o *Object) Update(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) error {
	o.f.stats.update.Add(1)
	if err := o.f.enter(ctx, OpPut, o.Remote()); err != nil {
		return err
	}
	old, size := o.Object.Size(), src.Size()
	if err := o.f.reserve(ctx, o.Remote(), size-max(old, 0)); err != nil {
		return err
	}
	if o.f.cutPut() {
		o.f.stats.midPut.Add(1)
		in = newCutReader(in, o.f.opt.FailPutAfter, "update "+o.Remote())
	}
	err := o.Object.Update(ctx, in, src, options...)
	if err != nil {
		o.f.release(size - max(old, 0))
	}
	if err == nil {
		o.f.wrote(o.Remote())
		o.handle.Store(true)
	}
	return err
}

// Remove deletes the object. Inside the create lag the remote does not know
// the name yet: it answers not found and the object stays (and reappears).
// After a real removal the object stays listed for delete_lag.
func (o *Object) Remove(ctx context.Context) error {
	o.f.stats.remove.Add(1)
	if err := o.f.enter(ctx, OpDelete, o.Remote()); err != nil {
		return err
	}
	if o.f.hidden(o.Remote()) {
		return fs.ErrorObjectNotFound
	}
	// Snapshot what the ghost listing will show before it is gone.
	size, modTime := o.Object.Size(), o.Object.ModTime(ctx)
	if err := o.Object.Remove(ctx); err != nil {
		return err
	}
	o.f.release(size)
	until := time.Time{}
	if o.f.opt.DeleteLag > 0 {
		until = time.Now().Add(o.f.lagFor(o.f.opt.DeleteLag))
	}
	o.f.st.removed(o.f.key(o.Remote()), ghost{size: size, modTime: modTime, until: until})
	return nil
}

// SetModTime sets the modification time on the wrapped remote.
func (o *Object) SetModTime(ctx context.Context, t time.Time) error {
	o.f.stats.setModTime.Add(1)
	if err := o.f.enter(ctx, OpPut, o.Remote()); err != nil {
		return err
	}
	return o.Object.SetModTime(ctx, t)
}

// ghostObject is a removed object the lagging remote still lists.
type ghostObject struct {
	f       *Fs
	remote  string
	size    int64
	modTime time.Time
}

func (g *ghostObject) Fs() fs.Info                                     { return g.f }
func (g *ghostObject) String() string                                  { return g.remote }
func (g *ghostObject) Remote() string                                  { return g.remote }
func (g *ghostObject) ModTime(context.Context) time.Time               { return g.modTime }
func (g *ghostObject) Size() int64                                     { return g.size }
func (g *ghostObject) Storable() bool                                  { return true }
func (g *ghostObject) Hash(context.Context, hash.Type) (string, error) { return "", nil }

// SetModTime fails: the object is gone below.
func (g *ghostObject) SetModTime(ctx context.Context, _ time.Time) error {
	o := g.f
	o.stats.setModTime.Add(1)
	if err := o.enter(ctx, OpPut, g.remote); err != nil {
		return err
	}
	return fs.ErrorObjectNotFound
}

// Open fails: only the listing lags, the data is gone.
func (g *ghostObject) Open(ctx context.Context, _ ...fs.OpenOption) (io.ReadCloser, error) {
	g.f.stats.open.Add(1)
	if err := g.f.enter(ctx, OpGet, g.remote); err != nil {
		return nil, err
	}
	return nil, fs.ErrorObjectNotFound
}

// Update writes the object again, like a Put of the same name.
func (g *ghostObject) Update(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) error {
	g.f.stats.update.Add(1)
	_, err := g.f.put(ctx, g.f.base.Put, in, src, options...)
	return err
}

// Remove answers not found: it was already removed below.
func (g *ghostObject) Remove(ctx context.Context) error {
	g.f.stats.remove.Add(1)
	if err := g.f.enter(ctx, OpDelete, g.remote); err != nil {
		return err
	}
	return fs.ErrorObjectNotFound
}

var (
	_ fs.Object          = (*Object)(nil)
	_ fs.ObjectUnWrapper = (*Object)(nil)
	_ fs.MimeTyper       = (*Object)(nil)
	_ fs.Object          = (*ghostObject)(nil)
)
