package lagfs

// What the lagging remote shows: listings and lookups that leave out
// fresh objects and keep showing recently deleted ones.

import (
	"context"
	"errors"

	"github.com/rclone/rclone/fs"
)

// List the directory dir, as the lagging remote would: fresh objects left
// out, recently removed ones still in.
func (f *Fs) List(ctx context.Context, dir string) (fs.DirEntries, error) {
	f.stats.list.Add(1)
	if err := f.enter(ctx, OpList, dir); err != nil {
		return nil, err
	}
	entries, err := f.base.List(ctx, dir)
	if err != nil && !errors.Is(err, fs.ErrorDirNotFound) {
		return nil, err
	}
	v := f.st.snapshot(f.key(dir), false)
	if err != nil && len(v.ghosts) == 0 {
		return nil, err
	}
	return f.filter(entries, v), nil
}

// ListR lists dir recursively with the same lag view as List.
func (f *Fs) ListR(ctx context.Context, dir string, callback fs.ListRCallback) error {
	f.stats.listR.Add(1)
	if err := f.enter(ctx, OpList, dir); err != nil {
		return err
	}
	listR := f.base.Features().ListR
	if listR == nil {
		return fs.ErrorNotImplemented
	}
	// Take the view before listing so ghosts are not lost to a sweep, but
	// filter pending entries with the view as well: both reflect the moment
	// the listing started.
	v := f.st.snapshot(f.key(dir), true)
	err := listR(ctx, dir, func(entries fs.DirEntries) error {
		out := f.filter(entries, view{pending: v.pending})
		if len(out) == 0 {
			return nil
		}
		return callback(out)
	})
	if err != nil && !(errors.Is(err, fs.ErrorDirNotFound) && len(v.ghosts) > 0) {
		return err
	}
	if g := f.ghostEntries(v.ghosts); len(g) > 0 {
		return callback(g)
	}
	return nil
}

// filter wraps base entries, drops pending objects and appends ghosts.
func (f *Fs) filter(entries fs.DirEntries, v view) fs.DirEntries {
	out := make(fs.DirEntries, 0, len(entries)+len(v.ghosts))
	for _, e := range entries {
		switch x := e.(type) {
		case fs.Object:
			if _, ok := v.pending[f.key(x.Remote())]; ok {
				f.stats.lagHidden.Add(1)
				continue
			}
			out = append(out, &Object{Object: x, f: f})
		default:
			out = append(out, e)
		}
	}
	return append(out, f.ghostEntries(v.ghosts)...)
}

func (f *Fs) ghostEntries(ghosts map[string]ghost) fs.DirEntries {
	out := make(fs.DirEntries, 0, len(ghosts))
	for p, g := range ghosts {
		out = append(out, &ghostObject{f: f, remote: f.rel(p), size: g.size, modTime: g.modTime})
	}
	return out
}

// NewObject finds remote unless the lag still hides it.
func (f *Fs) NewObject(ctx context.Context, remote string) (fs.Object, error) {
	f.stats.newObject.Add(1)
	if err := f.enter(ctx, OpStat, remote); err != nil {
		return nil, err
	}
	if f.hidden(remote) {
		return nil, fs.ErrorObjectNotFound
	}
	o, err := f.base.NewObject(ctx, remote)
	if err != nil {
		return nil, err
	}
	return &Object{Object: o, f: f}, nil
}
