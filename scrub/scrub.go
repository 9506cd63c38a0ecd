package scrub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"

	"github.com/steadyrest/steadyrest/overlay"
)

// Options tune a scrub. The zero value verifies by the remote's SHA-256
// only, with rclone's --checkers workers.
type Options struct {
	// Read downloads and hashes the objects the remote has no SHA-256 for.
	Read bool
	// Checkers is how many objects are checked at once; 0 means rclone's
	// --checkers (fs.ConfigInfo.Checkers).
	Checkers int
	// Name is the remote as the user typed it, for the report; default
	// rclone's name for it.
	Name string
	// Progress, if set, is called about every ProgressEvery (default 1s)
	// while the scrub runs, from another goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Logger gets one Warn line per finding and error; default discards.
	Logger *slog.Logger
}

// ErrNoRepository: no folder at or below the remote holds a restic
// repository (a config file next to restic's folders).
var ErrNoRepository = errors.New("no restic repository (a folder with a config file and keys/, data/, index/ or snapshots/) at or below the remote")

// scrubber is one run: the walk feeds jobs to a pool of checkers.
type scrubber struct {
	f    fs.Fs
	opt  Options
	jobs chan job
	// advertised: Fs.Hashes() lists SHA-256; noRemoteHash: an object
	// answered without one on a remote that does not advertise it.
	// The counters feed the progress line and, at the end, the report.
	advertised   bool
	noRemoteHash atomic.Bool
	// firstAsk: on a remote that does not advertise SHA-256, the first
	// ask is made alone (asked: it was answered), see remoteHash.
	firstAsk sync.Mutex
	asked    atomic.Bool

	repos, objects, bytes, readBytes, findings atomic.Int64

	mu  sync.Mutex // guards rep
	rep *Report
}

// Run scrubs every repository at or below f's root: the root itself if it
// holds a config file, else each folder below that does (not looking into
// a repository's own folders, nor into steadyrest's overlay.ReservedDir).
// It returns the report even with an error (a listing failed, or ctx
// ended), holding what was found until then.
func Run(ctx context.Context, f fs.Fs, opt Options) (*Report, error) {
	start := time.Now()
	opt.Checkers = cmp.Or(opt.Checkers, fs.GetConfig(ctx).Checkers, 8)
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &scrubber{
		f:          f,
		opt:        opt,
		jobs:       make(chan job, opt.Checkers),
		advertised: f.Hashes().Contains(hash.SHA256),
		rep:        &Report{Remote: cmp.Or(opt.Name, fs.ConfigString(f))},
	}
	var wg sync.WaitGroup
	for range opt.Checkers {
		wg.Go(func() {
			for j := range s.jobs {
				s.check(ctx, j)
			}
		})
	}
	stopProgress := s.startProgress()
	err := s.walk(ctx, "")
	close(s.jobs)
	wg.Wait()
	stopProgress()

	if err == nil && len(s.rep.Repositories) == 0 {
		err = ErrNoRepository
	}
	if ctx.Err() != nil {
		s.rep.Stopped = true
		err = cmp.Or(err, ctx.Err())
	}
	s.rep.Objects, s.rep.Bytes, s.rep.ReadBytes = s.objects.Load(), s.bytes.Load(), s.readBytes.Load()
	s.rep.finish(time.Since(start), err)
	return s.rep, err
}

// startProgress calls opt.Progress until the returned stop is called.
func (s *scrubber) startProgress() (stop func()) {
	if s.opt.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(cmp.Or(s.opt.ProgressEvery, time.Second))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.opt.Progress(Progress{
					Repositories: s.repos.Load(), Objects: s.objects.Load(), Findings: s.findings.Load(),
					Bytes: s.bytes.Load(), ReadBytes: s.readBytes.Load(),
				})
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// walk looks for repositories in dir and below.
func (s *scrubber) walk(ctx context.Context, dir string) error {
	var (
		hasConfig bool
		resticDir bool
		subdirs   []string
	)
	err := s.list(ctx, dir, func(e fs.DirEntry) error {
		name := path.Base(e.Remote())
		switch e.(type) {
		case fs.Object:
			hasConfig = hasConfig || name == string(overlay.Config)
		case fs.Directory:
			switch overlay.Type(name) {
			case overlay.Keys, overlay.Data, overlay.Index, overlay.Snapshots:
				resticDir = true
			}
			if name != overlay.ReservedDir {
				subdirs = append(subdirs, e.Remote())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if hasConfig && resticDir {
		return s.repo(ctx, dir)
	}
	for _, sub := range subdirs {
		if err := s.walk(ctx, sub); err != nil {
			return err
		}
	}
	return nil
}

// repo checks the layout of the repository at dir and queues its objects.
func (s *scrubber) repo(ctx context.Context, dir string) error {
	s.mu.Lock()
	s.rep.Repositories = append(s.rep.Repositories, dir)
	s.mu.Unlock()
	s.repos.Add(1)
	return s.list(ctx, dir, func(e fs.DirEntry) error {
		name := path.Base(e.Remote())
		switch e := e.(type) {
		case fs.Object:
			if name != string(overlay.Config) {
				s.stray(dir, e, "a file restic does not write at a repository's top")
			} else if e.Size() == 0 {
				s.add(Finding{Kind: WrongSize, Repository: dir, Path: e.Remote(), Size: 0, Source: "listing",
					Detail: "the repository's config is empty: restic cannot open the repository"})
			}
			return nil
		case fs.Directory:
			switch overlay.Type(name) {
			case overlay.Data:
				return s.dataDir(ctx, dir, e.Remote())
			case overlay.Keys, overlay.Locks, overlay.Snapshots, overlay.Index:
				return s.flatDir(ctx, dir, e.Remote())
			}
			if name != overlay.ReservedDir {
				s.stray(dir, e, "a folder restic does not make at a repository's top")
			}
		}
		return nil
	})
}

// flatDir queues the objects of keys/, locks/, snapshots/ or index/.
func (s *scrubber) flatDir(ctx context.Context, repo, dir string) error {
	return s.list(ctx, dir, func(e fs.DirEntry) error {
		switch e := e.(type) {
		case fs.Object:
			if !overlay.IsHexID(path.Base(e.Remote())) {
				s.foreign(repo, e, "its name is not 64 lowercase hex digits, the SHA-256 restic names its files by")
				return nil
			}
			return s.queue(ctx, job{repo: repo, o: e})
		case fs.Directory:
			s.stray(repo, e, "a folder inside "+path.Base(dir)+"/, where restic keeps only files")
		}
		return nil
	})
}

// dataDir queues the packs of data/xx/ folders.
func (s *scrubber) dataDir(ctx context.Context, repo, dir string) error {
	var prefixes []string
	err := s.list(ctx, dir, func(e fs.DirEntry) error {
		name := path.Base(e.Remote())
		switch e := e.(type) {
		case fs.Object:
			s.foreign(repo, e, "a file directly in data/, where restic keeps packs only in data/xx/ folders")
		case fs.Directory:
			if isPrefix(name) {
				prefixes = append(prefixes, e.Remote())
			} else {
				s.stray(repo, e, "a folder in data/ that is not one of restic's two-hex-digit folders")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		prefix := path.Base(p)
		err := s.list(ctx, p, func(e fs.DirEntry) error {
			switch e := e.(type) {
			case fs.Object:
				name := path.Base(e.Remote())
				switch {
				case !overlay.IsHexID(name):
					s.foreign(repo, e, "its name is not 64 lowercase hex digits, the SHA-256 restic names its files by")
				case !strings.HasPrefix(name, prefix):
					s.foreign(repo, e, "a pack in the wrong folder: restic keeps it in data/"+name[:2]+"/")
				default:
					return s.queue(ctx, job{repo: repo, o: e, pack: true})
				}
			case fs.Directory:
				s.stray(repo, e, "a folder inside data/"+prefix+"/, where restic keeps only packs")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// isPrefix reports whether name is two lowercase hex digits.
func isPrefix(name string) bool {
	return len(name) == 2 && overlay.IsHexID(strings.Repeat(name, 32))
}

// list streams dir's entries to fn: page by page where the backend pages
// (ListP), else the one folder at once.
func (s *scrubber) list(ctx context.Context, dir string, fn func(fs.DirEntry) error) error {
	each := func(entries fs.DirEntries) error {
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if listP := s.f.Features().ListP; listP != nil {
		err = listP(ctx, dir, each)
	} else {
		var entries fs.DirEntries
		if entries, err = s.f.List(ctx, dir); err == nil {
			err = each(entries)
		}
	}
	if err != nil {
		return fmt.Errorf("scrub: list %q: %w", cmp.Or(dir, "/"), err)
	}
	return nil
}

// job is one hash-named object to check.
type job struct {
	repo string
	o    fs.Object
	pack bool // in data/
}

// queue hands j to a checker, waiting while all are busy.
func (s *scrubber) queue(ctx context.Context, j job) error {
	select {
	case s.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *scrubber) stray(repo string, e fs.DirEntry, why string) {
	f := Finding{Kind: Stray, Repository: repo, Path: e.Remote(), Size: e.Size(), Detail: why}
	if _, dir := e.(fs.Directory); dir {
		f.Path, f.Size = e.Remote()+"/", -1
	}
	s.add(f)
}

func (s *scrubber) foreign(repo string, o fs.Object, why string) {
	s.add(Finding{Kind: Foreign, Repository: repo, Path: o.Remote(), Size: o.Size(), Detail: why})
}

func (s *scrubber) add(f Finding) {
	s.findings.Add(1)
	s.opt.Logger.Warn("scrub: "+string(f.Kind), "path", f.Path, "size", f.Size, "detail", f.Detail)
	s.mu.Lock()
	s.rep.Findings = append(s.rep.Findings, f)
	s.mu.Unlock()
}
