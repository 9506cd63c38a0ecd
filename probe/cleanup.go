package probe

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/rclone/rclone/fs"
)

// cleanup removes what the probe wrote and its folder, with a context of
// its own so that an interrupt still cleans up.
func (p *prober) cleanup(parent context.Context) error {
	if p.dir == "" {
		return nil
	}
	p.opt.Progress("removing the probe folder")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), p.opt.CleanupTimeout)
	defer cancel()
	interval := p.opt.PollMin
	var lastErr error
	for {
		// Objects listed but not known (an upload whose answer was lost)
		// are removed too, as long as they lie in the probe folder.
		if entries, err := p.f.List(ctx, p.dir); err == nil {
			for _, e := range entries {
				if o, ok := e.(fs.Object); ok && p.inside(o.Remote()) {
					if _, known := p.live[path.Base(o.Remote())]; !known {
						p.live[path.Base(o.Remote())] = o
					}
				}
			}
		}
		for name, o := range p.live {
			if !p.inside(o.Remote()) {
				delete(p.live, name) // cannot happen; never delete outside
				continue
			}
			err := o.Remove(ctx)
			if err == nil || p.goneFromBucket(ctx, o, err) {
				delete(p.live, name)
			} else {
				lastErr = err
			}
		}
		err := p.f.Rmdir(ctx, p.dir)
		if bucket := p.f.Features().BucketBased; (err == nil || errors.Is(err, fs.ErrorDirNotFound)) && (!bucket || len(p.live) == 0) {
			// The remote says the folder was empty: objects whose removal
			// answered not-found are gone.
			p.opt.Logger.Debug("probe folder removed", "dir", p.dir)
			return nil
		}
		lastErr = err
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: could not remove %q in time; remove it by hand: %w", ErrLeftBehind, p.dir, lastErr)
		case <-t.C:
		}
		interval = min(interval*3/2, p.opt.PollMax)
	}
}

// goneFromBucket tells, on a bucket remote (whose Rmdir succeeds over
// objects left behind), whether an object whose removal answered
// not-found is really gone: neither listed nor found by name.
func (p *prober) goneFromBucket(ctx context.Context, o fs.Object, err error) bool {
	if !p.f.Features().BucketBased || !errors.Is(err, fs.ErrorObjectNotFound) {
		return false
	}
	if _, err := p.f.NewObject(ctx, o.Remote()); !errors.Is(err, fs.ErrorObjectNotFound) {
		return false
	}
	listed, err := p.listed(ctx, o.Remote())
	return err == nil && !listed
}
