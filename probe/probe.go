// Package probe measures how consistent an rclone remote is: how long a new
// object takes to show in listings and lookups by name, how long a deleted
// one stays listed, and whether the remote refuses to delete a fresh
// object. steadyrest exists to hide that lag; the probe tells a user
// whether their remote has any, and what --settle-window covers it.
//
// The probe works only in a folder of its own (.steadyrest-probe-<random>)
// below the remote's root, and removes it at the end, also when its context
// is cancelled.
package probe

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"

	"github.com/steadyrest/steadyrest/overlay"
)

// DirPrefix starts the name of every folder the probe creates.
const DirPrefix = ".steadyrest-probe-"

// Options bound and tune a probe run. Zero values take the defaults.
type Options struct {
	// Rounds is how many create/delete rounds to run (default 5).
	Rounds int
	// Duration stops starting new rounds once this much time has passed
	// (default: no bound but Rounds). At least one round runs.
	Duration time.Duration
	// Timeout is the longest one wait for the remote to show a change
	// lasts (default 2m). A change not seen by then counts as a timeout.
	Timeout time.Duration
	// PollMin and PollMax bound the interval between two polls of the
	// remote while waiting (default 50ms growing to 1s): short enough to
	// measure a lag of a second, long enough not to hammer a cloud API.
	PollMin, PollMax time.Duration
	// SmallSize is the size of the small objects (default 1 KiB), LargeSize
	// that of the one larger object of the first round (default 4 MiB,
	// negative: none).
	SmallSize, LargeSize int64
	// CleanupTimeout bounds the removal of the probe folder at the end
	// (default 5m: a remote may refuse to delete a fresh object for a
	// while).
	CleanupTimeout time.Duration
	// Progress, if set, is told what the probe is doing, one short line at
	// a time.
	Progress func(line string)
	// Logger receives debug logs; nil means slog.Default().
	Logger *slog.Logger
	// Name is the remote as the user typed it, shown in the report
	// (default: rclone's config string of the Fs, which names connection
	// string remotes by an internal hash).
	Name string
	// MinSettleWindow is the least settle window the report recommends
	// (default: steadyrest's own default, overlay.DefaultSettleWindow). The
	// window is the one place the guarantee can lapse, so a short probe
	// never talks a user below the default unless asked to.
	MinSettleWindow time.Duration
}

func (o *Options) defaults() {
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.PollMin <= 0 {
		o.PollMin = 50 * time.Millisecond
	}
	if o.PollMax < o.PollMin {
		o.PollMax = max(time.Second, o.PollMin)
	}
	if o.SmallSize <= 0 {
		o.SmallSize = 1 << 10
	}
	if o.LargeSize == 0 {
		o.LargeSize = 4 << 20
	}
	if o.CleanupTimeout <= 0 {
		o.CleanupTimeout = 5 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MinSettleWindow <= 0 {
		o.MinSettleWindow = overlay.DefaultSettleWindow
	}
}

// ErrNotWritable wraps the error of a remote the probe cannot write to.
var ErrNotWritable = errors.New("cannot write to the remote")

// ErrLeftBehind wraps the error of a clean-up that could not remove the
// probe folder in time.
var ErrLeftBehind = errors.New("probe folder left behind")

// prober is one run's state.
type prober struct {
	f   fs.Fs
	opt Options
	dir string // the probe folder, relative to f's root
	rep *Report

	// objects the probe wrote and has not seen removed: name -> the handle
	// the upload returned, for the clean-up.
	live map[string]fs.Object
}

// Run probes f and returns the report. On a cancelled ctx it stops, cleans
// up and returns the partial report with ctx's error. An error before any
// measurement (the remote cannot be written to) returns no report.
func Run(ctx context.Context, f fs.Fs, opt Options) (*Report, error) {
	opt.defaults()
	p := &prober{f: f, opt: opt, live: map[string]fs.Object{}, rep: newReport(cmp.Or(opt.Name, fs.ConfigString(f)))}
	start := time.Now()
	if err := p.setup(ctx); err != nil {
		return nil, err
	}
	runErr := p.rounds(ctx, start)
	cleanErr := p.cleanup(ctx)
	p.rep.Interrupted = ctx.Err() != nil
	p.rep.finish(time.Since(start), opt.Timeout, opt.MinSettleWindow)
	if runErr != nil {
		return p.rep, errors.Join(runErr, cleanErr)
	}
	if cleanErr != nil {
		return p.rep, cleanErr
	}
	return p.rep, nil
}

// setup picks a folder name nobody uses and creates it.
func (p *prober) setup(ctx context.Context) error {
	for range 3 {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("random folder name: %w", err)
		}
		dir := DirPrefix + hex.EncodeToString(b[:])
		if p.f.Root() == "" && p.f.Features().BucketBased {
			// A folder at a bucket remote's root would be a bucket.
			return fmt.Errorf("%w: give a bucket (and path) to probe, not the remote's root", ErrNotWritable)
		}
		_, err := p.f.List(ctx, dir)
		if err == nil {
			continue // taken (very unlikely): never touch someone else's folder
		}
		if !errors.Is(err, fs.ErrorDirNotFound) {
			return fmt.Errorf("%w: list %q: %w", ErrNotWritable, dir, err)
		}
		p.dir = dir
		if err := p.f.Mkdir(ctx, dir); err != nil {
			return fmt.Errorf("%w: create folder %q: %w", ErrNotWritable, dir, err)
		}
		return nil
	}
	return errors.New("no free probe folder name")
}

// remote turns a probe object's name into its path, refusing anything that
// would leave the probe folder: the probe must never touch other files.
func (p *prober) remote(name string) (string, error) {
	if p.dir == "" || name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return "", fmt.Errorf("refusing object name %q outside the probe folder", name)
	}
	return path.Join(p.dir, name), nil
}

// inside reports whether a remote path lies in the probe folder.
func (p *prober) inside(remote string) bool {
	return p.dir != "" && strings.HasPrefix(remote, p.dir+"/") && !strings.Contains(remote[len(p.dir)+1:], "/")
}

func (p *prober) rounds(ctx context.Context, start time.Time) error {
	for i := range p.opt.Rounds {
		if i > 0 && p.opt.Duration > 0 && time.Since(start) >= p.opt.Duration {
			break
		}
		p.rep.Rounds = i + 1
		p.opt.Progress(fmt.Sprintf("round %d/%d", i+1, p.opt.Rounds))
		if err := p.measure(ctx, fmt.Sprintf("r%02d-small", i), p.opt.SmallSize, "put"); err != nil {
			return err
		}
		if i == 0 && p.opt.LargeSize > 0 {
			if err := p.measure(ctx, "r00-large", p.opt.LargeSize, fmt.Sprintf("put %s", sizeString(p.opt.LargeSize))); err != nil {
				return err
			}
		}
		if err := p.freshDelete(ctx, fmt.Sprintf("r%02d-fresh", i)); err != nil {
			return err
		}
	}
	return nil
}

// call times one remote call under op.
func (p *prober) call(op string, fn func() error) error {
	t := time.Now()
	err := fn()
	p.rep.call(op, time.Since(t), err)
	return err
}

func randomBytes(n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random content: %w", err)
	}
	return b, nil
}

// put uploads data as name and returns the upload's handle and when the
// remote acknowledged it.
func (p *prober) put(ctx context.Context, name string, data []byte, op string) (fs.Object, time.Time, error) {
	remote, err := p.remote(name)
	if err != nil {
		return nil, time.Time{}, err
	}
	var obj fs.Object
	err = p.call(op, func() (err error) {
		info := object.NewStaticObjectInfo(remote, time.Now(), int64(len(data)), true, nil, p.f)
		obj, err = p.f.Put(ctx, bytes.NewReader(data), info)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, time.Time{}, ctx.Err()
		}
		if p.rep.Writes == 0 {
			return nil, time.Time{}, fmt.Errorf("%w: upload %q: %w", ErrNotWritable, remote, err)
		}
		return nil, time.Time{}, nil // counted; the round goes on with the next object
	}
	p.rep.Writes++
	p.live[name] = obj
	return obj, time.Now(), nil
}

// measure writes one object, waits until the remote shows it, deletes it
// and waits until the remote agrees it is gone.
func (p *prober) measure(ctx context.Context, name string, size int64, putOp string) error {
	data, err := randomBytes(size)
	if err != nil {
		return err
	}
	putObj, acked, err := p.put(ctx, name, data, putOp)
	if err != nil || putObj == nil {
		return err
	}
	remote := putObj.Remote()

	// Created: poll listing, lookup and read until all three show it.
	var found fs.Object
	listed, lookedUp, readable := false, false, false
	err = p.poll(ctx, acked, func(first bool, at time.Time) (bool, error) {
		if err := p.watchListing(ctx, remote, true, &listed, CreateListed, acked, at, first); err != nil {
			return false, err
		}
		obj, err := p.watchLookup(ctx, remote, true, &lookedUp, CreateLookup, acked, at, first)
		if err != nil {
			return false, err
		}
		if obj != nil {
			found = obj
		}
		if lookedUp && !readable {
			if p.read(ctx, found, data) {
				readable = true
				p.rep.lag(CreateReadable, at.Sub(acked), first)
			}
		}
		return listed && lookedUp && readable, nil
	})
	if err != nil {
		return err
	}
	p.timeouts(CreateListed, listed)
	p.timeouts(CreateLookup, lookedUp)
	p.timeouts(CreateReadable, readable)
	if !lookedUp {
		found = putObj
	}

	// Deleted: remove (retrying a refusal), then poll until listing and
	// lookup agree it is gone.
	var removed time.Time
	err = p.poll(ctx, time.Now(), func(bool, time.Time) (bool, error) {
		if p.call("delete", func() error { return found.Remove(ctx) }) != nil {
			return false, nil
		}
		removed = time.Now()
		return true, nil
	})
	if err != nil {
		return err
	}
	if removed.IsZero() {
		p.rep.Lags[DeleteUnlisted].Timeouts++
		p.rep.Lags[DeleteLookup].Timeouts++
		return nil // the clean-up tries again
	}
	delete(p.live, name)
	unlisted, gone := false, false
	err = p.poll(ctx, removed, func(first bool, at time.Time) (bool, error) {
		if err := p.watchListing(ctx, remote, false, &unlisted, DeleteUnlisted, removed, at, first); err != nil {
			return false, err
		}
		_, err := p.watchLookup(ctx, remote, false, &gone, DeleteLookup, removed, at, first)
		if err != nil {
			return false, err
		}
		return unlisted && gone, nil
	})
	p.timeouts(DeleteUnlisted, unlisted)
	p.timeouts(DeleteLookup, gone)
	return err
}

// watchListing lists the probe folder unless *seen, and when the listing
// first shows remote (want) or leaves it out (!want), sets *seen and
// records the lag of kind since t0, to the start of this poll (at).
func (p *prober) watchListing(ctx context.Context, remote string, want bool, seen *bool, kind Kind, t0, at time.Time, first bool) error {
	if *seen {
		return nil
	}
	ok, err := p.listed(ctx, remote)
	if err != nil {
		return err
	}
	if ok == want {
		*seen = true
		p.rep.lag(kind, at.Sub(t0), first)
	}
	return nil
}

// watchLookup is watchListing for a lookup by name; it returns the object
// when the lookup finds it.
func (p *prober) watchLookup(ctx context.Context, remote string, want bool, seen *bool, kind Kind, t0, at time.Time, first bool) (fs.Object, error) {
	if *seen {
		return nil, nil
	}
	obj, err := p.lookup(ctx, remote)
	if err != nil {
		return nil, err
	}
	if (obj != nil) == want {
		*seen = true
		p.rep.lag(kind, at.Sub(t0), first)
	}
	return obj, nil
}

func (p *prober) timeouts(kind Kind, seen bool) {
	if !seen {
		p.rep.Lags[kind].Timeouts++
	}
}

// freshDelete deletes an object right after its upload: pCloud and
// other remotes refuse, or answer not-found and keep the object. A refused
// delete is retried to measure how long the remote takes to accept it.
func (p *prober) freshDelete(ctx context.Context, name string) error {
	data, err := randomBytes(p.opt.SmallSize)
	if err != nil {
		return err
	}
	obj, acked, err := p.put(ctx, name, data, "put")
	if err != nil || obj == nil {
		return err
	}
	p.rep.Fresh.Tried++
	refused := false
	accepted := false
	err = p.poll(ctx, acked, func(first bool, at time.Time) (bool, error) {
		if err := p.call("delete", func() error { return obj.Remove(ctx) }); err != nil {
			if first {
				refused = true
				p.rep.Fresh.Refused++
				p.rep.Fresh.LastRefusal = err.Error()
			}
			return false, nil
		}
		accepted = true
		if refused {
			p.rep.lag(FreshDeleteAccepted, at.Sub(acked), false)
		}
		return true, nil
	})
	if accepted {
		delete(p.live, name)
	} else if refused {
		p.rep.Lags[FreshDeleteAccepted].Timeouts++
	}
	return err
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
