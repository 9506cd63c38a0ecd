package probe

// The probe's observations of the remote: a listing, a lookup, a read,
// and the polling that repeats them until a change shows.

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/rclone/rclone/fs"
)

// listed reports whether a listing of the probe folder shows remote.
func (p *prober) listed(ctx context.Context, remote string) (bool, error) {
	var entries fs.DirEntries
	err := p.call("list", func() (err error) {
		entries, err = p.f.List(ctx, p.dir)
		return err
	})
	if err != nil {
		// A bucket remote may answer not-found for a folder whose last
		// object just went; anything else is counted and polled again.
		return false, ctx.Err()
	}
	for _, e := range entries {
		if e.Remote() == remote {
			return true, nil
		}
	}
	return false, nil
}

// lookup finds remote by name, nil if the remote answers not found.
func (p *prober) lookup(ctx context.Context, remote string) (fs.Object, error) {
	var obj fs.Object
	err := p.call("stat", func() (err error) {
		obj, err = p.f.NewObject(ctx, remote)
		return err
	})
	if err != nil {
		return nil, ctx.Err()
	}
	return obj, nil
}

// read reports whether obj reads back as data.
func (p *prober) read(ctx context.Context, obj fs.Object, data []byte) bool {
	var got []byte
	err := p.call("get", func() error {
		rc, err := obj.Open(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		got, err = io.ReadAll(rc)
		return err
	})
	if err == nil && !bytes.Equal(got, data) {
		p.rep.errorf("get", "%s read back %d bytes that differ from the %d written", obj.Remote(), len(got), len(data))
		return false
	}
	return err == nil
}

// poll calls check until it reports done, with a growing interval, for at
// most opt.Timeout after since. check is told whether this is its first
// call and when the call started (the lag is measured to that moment: the
// previous call had not seen the change yet). A timeout is not an error:
// the caller counts what was not seen.
func (p *prober) poll(ctx context.Context, since time.Time, check func(first bool, at time.Time) (bool, error)) error {
	interval := p.opt.PollMin
	deadline := since.Add(p.opt.Timeout)
	for first := true; ; first = false {
		done, err := check(first, time.Now())
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		t := time.NewTimer(min(interval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		interval = min(interval*3/2, p.opt.PollMax)
	}
}
