// Package lagfs is an rclone backend ("lag") that wraps another rclone
// remote and makes it eventually consistent the way pCloud is reported to
// be: fresh writes stay invisible to listings and lookups for create_lag,
// removed objects stay listed for delete_lag, every call can be slowed by
// latency and can fail at random with a transient error.
//
// It is a test fixture for steadyrest and also compiled into the steadyrest
// binary so users can reproduce their cloud's behaviour; it lives under
// internal/, so only this module imports it. Importing the package
// registers the backend:
//
//	import _ "github.com/steadyrest/steadyrest/internal/lagfs"
//	f, err := fs.NewFs(ctx, ":lag,remote=/tmp/repo,create_lag=3s:")
//	lf, _ := lagfs.FromFs(f) // *lagfs.Fs, for Stats()
package lagfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/rclone/rclone/backend/overview"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/cache"
	"github.com/rclone/rclone/fs/config/configmap"
	"github.com/rclone/rclone/fs/config/configstruct"
	"github.com/rclone/rclone/fs/fserrors"
	"github.com/rclone/rclone/fs/fspath"
	"github.com/rclone/rclone/fs/hash"
)

// Operation classes selectable in error_ops.
const (
	OpList   = "list"   // List, ListR
	OpStat   = "stat"   // NewObject, About
	OpGet    = "get"    // Object.Open
	OpPut    = "put"    // Put, PutStream, Object.Update, Object.SetModTime, Mkdir
	OpDelete = "delete" // Object.Remove, Rmdir
)

var allOps = []string{OpList, OpStat, OpGet, OpPut, OpDelete}

// ErrInjected is wrapped by every error produced by the error_rate knob
// (inside an fserrors.RetryError, so rclone treats it as transient).
var ErrInjected = errors.New("lag: injected transient error: 503 Service Unavailable")

func init() {
	fs.Register(&fs.RegInfo{
		Name:        "lag",
		Description: "Wrap a remote and make it eventually consistent (test fixture, lags like pCloud)",
		NewFs:       NewFs,
		// rclone looks up docs data for registered backends; ours is not in
		// its tree, so supply the overview instead of logging an error.
		Overview: &overview.BackendConfig{
			Backend: "lag", Name: "Lag", Tier: "Tier 5", Maintainers: "steadyrest",
			Docs: "internal/lagfs/README.md in steadyrest", Virtual: true,
		},
		Options: []fs.Option{{
			Name:     "remote",
			Help:     "Remote or path to wrap.\n\nE.g. \"myremote:path\", \"/local/path\" or \":memory:bucket\".",
			Required: true,
		}, {
			Name:    "create_lag",
			Help:    "How long a freshly written object stays missing from List and NewObject.\n\nDuring this time Remove of it answers not found and leaves it in place.",
			Default: fs.Duration(0),
		}, {
			Name:    "delete_lag",
			Help:    "How long a removed object stays in List results.",
			Default: fs.Duration(0),
		}, {
			Name:    "jitter",
			Help:    "Extra uniformly random 0..jitter added to each object's create or delete lag (when that lag is set).",
			Default: fs.Duration(0),
		}, {
			Name:    "latency",
			Help:    "Delay added to every remote call.",
			Default: fs.Duration(0),
		}, {
			Name:    "error_rate",
			Help:    "Probability (0..1) that a call fails with a transient error before reaching the wrapped remote.",
			Default: float64(0),
		}, {
			Name:    "error_ops",
			Help:    "Comma separated operations error_rate applies to: list,stat,get,put,delete.",
			Default: fs.CommaSepList(allOps),
		}, {
			Name:    "fail_put_after",
			Help:    "Cut uploads after this many body bytes with a transient error (-1 = never).\n\nThe wrapped remote sees a failing body, so it stores nothing. Applied with probability fault_rate.",
			Default: int64(-1),
		}, {
			Name:    "fail_get_after",
			Help:    "Cut downloads after this many bytes with a transient error (-1 = never). Applied with probability fault_rate.",
			Default: int64(-1),
		}, {
			Name:    "fault_rate",
			Help:    "Probability (0..1) that an upload or download is cut by fail_put_after/fail_get_after.",
			Default: float64(1),
		}, {
			Name:    "deny_ops",
			Help:    "Comma separated operations (list,stat,get,put,delete) that always fail with a permanent permission-denied error.",
			Default: fs.CommaSepList{},
		}, {
			Name:    "quota_bytes",
			Help:    "Refuse uploads, with a permanent insufficient-storage error (ENOSPC), once the stored total would pass this (-1 = no quota).",
			Default: int64(-1),
		}, {
			Name:    "seed",
			Help:    "Seed for jitter and error injection (0 = time based).",
			Default: int64(0),
		}},
	})
}

// Options are the lag backend's configuration.
type Options struct {
	Remote    string          `config:"remote"`
	CreateLag fs.Duration     `config:"create_lag"`
	DeleteLag fs.Duration     `config:"delete_lag"`
	Jitter    fs.Duration     `config:"jitter"`
	Latency   fs.Duration     `config:"latency"`
	ErrorRate float64         `config:"error_rate"`
	ErrorOps  fs.CommaSepList `config:"error_ops"`
	Seed      int64           `config:"seed"`

	FailPutAfter int64           `config:"fail_put_after"`
	FailGetAfter int64           `config:"fail_get_after"`
	FaultRate    float64         `config:"fault_rate"`
	DenyOps      fs.CommaSepList `config:"deny_ops"`
	QuotaBytes   int64           `config:"quota_bytes"`
}

// Fs is a lagging view of a wrapped rclone remote. To get it from an fs.Fs
// returned by fs.NewFs or cache.Get use FromFs (or a type assertion
// f.(*lagfs.Fs)).
type Fs struct {
	name     string
	root     string
	rootKey  string // root without slashes, for state paths
	base     fs.Fs
	opt      Options
	errOps   map[string]bool
	denyOps  map[string]bool
	features *fs.Features
	wrapper  fs.Fs
	st       *state
	stats    counters

	rngMu sync.Mutex
	rng   *rand.Rand
}

// NewFs builds a lag Fs from its config; rclone calls it for "lag" remotes.
func NewFs(ctx context.Context, name, root string, m configmap.Mapper) (fs.Fs, error) {
	var opt Options
	if err := configstruct.Set(m, &opt); err != nil {
		return nil, fmt.Errorf("lag: read options: %w", err)
	}
	if opt.Remote == "" {
		return nil, errors.New("lag: the remote option is required")
	}
	if strings.HasPrefix(opt.Remote, name+":") {
		return nil, errors.New("lag: can't point remote at itself")
	}
	if opt.ErrorRate < 0 || opt.ErrorRate > 1 {
		return nil, fmt.Errorf("lag: error_rate %v is outside 0..1", opt.ErrorRate)
	}
	for _, d := range []fs.Duration{opt.CreateLag, opt.DeleteLag, opt.Jitter, opt.Latency} {
		if d < 0 {
			return nil, fmt.Errorf("lag: negative duration %v", d)
		}
	}
	if opt.FaultRate < 0 || opt.FaultRate > 1 {
		return nil, fmt.Errorf("lag: fault_rate %v is outside 0..1", opt.FaultRate)
	}
	errOps, err := opSet("error_ops", opt.ErrorOps)
	if err != nil {
		return nil, err
	}
	denyOps, err := opSet("deny_ops", opt.DenyOps)
	if err != nil {
		return nil, err
	}

	base, err := cache.Get(ctx, fspath.JoinRootPath(opt.Remote, root))
	if err != nil && !errors.Is(err, fs.ErrorIsFile) {
		return nil, fmt.Errorf("lag: open wrapped remote %q: %w", opt.Remote, err)
	}
	isFile := err != nil
	if isFile {
		// The base now points at the file's parent; follow it.
		root = path.Dir(strings.TrimRight(root, "/"))
		if root == "." || root == "/" {
			root = ""
		}
	}
	seed := opt.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	f := &Fs{
		name:    name,
		root:    root,
		rootKey: strings.Trim(root, "/"),
		base:    base,
		opt:     opt,
		errOps:  errOps,
		denyOps: denyOps,
		st:      stateFor(opt.Remote),
		rng:     rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
	}
	f.features = (&fs.Features{
		CaseInsensitive:         true,
		DuplicateFiles:          false,
		ReadMimeType:            true,
		WriteMimeType:           true,
		CanHaveEmptyDirectories: true,
		BucketBased:             true,
		BucketBasedRootOK:       true,
		SlowModTime:             true,
		SlowHash:                true,
		PartialUploads:          true,
	}).Fill(ctx, f).Mask(ctx, base).WrapsFs(f, base)
	cache.PinUntilFinalized(base, f)
	if isFile {
		return f, fs.ErrorIsFile
	}
	return f, nil
}

// opSet parses a list of operation classes.
func opSet(knob string, list fs.CommaSepList) (map[string]bool, error) {
	set := map[string]bool{}
	for _, op := range list {
		op = strings.TrimSpace(strings.ToLower(op))
		if op == "" {
			continue
		}
		if !isOp(op) {
			return nil, fmt.Errorf("lag: unknown operation %q in %s (want some of %s)", op, knob, strings.Join(allOps, ","))
		}
		set[op] = true
	}
	return set, nil
}

func isOp(op string) bool {
	for _, o := range allOps {
		if o == op {
			return true
		}
	}
	return false
}

// FromFs returns the *Fs behind f, looking through wrappers that implement
// UnWrap. It reports false if f is not (and does not wrap) a lag Fs.
func FromFs(f fs.Fs) (*Fs, bool) {
	for f != nil {
		if lf, ok := f.(*Fs); ok {
			return lf, true
		}
		unwrap := f.Features().UnWrap
		if unwrap == nil {
			return nil, false
		}
		f = unwrap()
	}
	return nil, false
}

// Options returns the parsed configuration.
func (f *Fs) Options() Options { return f.opt }

// Name of the remote (as passed into NewFs).
func (f *Fs) Name() string { return f.name }

// Root of the remote (as passed into NewFs).
func (f *Fs) Root() string { return f.root }

// String describes the Fs.
func (f *Fs) String() string { return fmt.Sprintf("lag root '%s' over %s", f.root, f.base) }

// Precision of the wrapped remote.
func (f *Fs) Precision() time.Duration { return f.base.Precision() }

// Hashes of the wrapped remote.
func (f *Fs) Hashes() hash.Set { return f.base.Hashes() }

// Features of the lag Fs (those of the wrapped remote we pass through).
func (f *Fs) Features() *fs.Features { return f.features }

// UnWrap returns the wrapped remote.
func (f *Fs) UnWrap() fs.Fs { return f.base }

// WrapFs returns the Fs wrapping this one, if any.
func (f *Fs) WrapFs() fs.Fs { return f.wrapper }

// SetWrapper records the Fs wrapping this one.
func (f *Fs) SetWrapper(w fs.Fs) { f.wrapper = w }

// key maps a remote relative to this Fs to a path in the shared state.
func (f *Fs) key(remote string) string {
	if f.rootKey == "" {
		return strings.Trim(remote, "/")
	}
	return strings.Trim(path.Join(f.rootKey, remote), "/")
}

// rel is the inverse of key for paths known to lie under the root.
func (f *Fs) rel(p string) string {
	if f.rootKey == "" {
		return p
	}
	return strings.TrimPrefix(p, f.rootKey+"/")
}

// enter simulates the far cloud: it waits the configured latency, then may
// fail the call with an injected transient error before it reaches the
// wrapped remote.
func (f *Fs) enter(ctx context.Context, op, what string) error {
	if d := time.Duration(f.opt.Latency); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lag: %s %q: %w", op, what, ctx.Err())
		}
	}
	if err := f.denied(op, what); err != nil {
		return err
	}
	if f.opt.ErrorRate > 0 && f.errOps[op] && f.chance(f.opt.ErrorRate) {
		f.stats.injected.Add(1)
		return fserrors.RetryError(fmt.Errorf("lag: %s %q: %w", op, what, ErrInjected))
	}
	return nil
}

func (f *Fs) chance(p float64) bool {
	if p >= 1 {
		return true
	}
	f.rngMu.Lock()
	defer f.rngMu.Unlock()
	return f.rng.Float64() < p
}

// lagFor returns lag plus this object's random share of the jitter. Callers
// only ask for a configured (non-zero) lag: jitter stretches a lag, it does
// not create one.
func (f *Fs) lagFor(lag fs.Duration) time.Duration {
	d := time.Duration(lag)
	if j := time.Duration(f.opt.Jitter); j > 0 {
		f.rngMu.Lock()
		d += time.Duration(f.rng.Int64N(int64(j) + 1))
		f.rngMu.Unlock()
	}
	return d
}

// wrote records a successful write of remote for the create lag.
func (f *Fs) wrote(remote string) {
	if f.opt.CreateLag <= 0 {
		// Still clear a ghost of an earlier delete: the object is back.
		f.st.created(f.key(remote), time.Time{})
		return
	}
	f.st.created(f.key(remote), time.Now().Add(f.lagFor(f.opt.CreateLag)))
}

// hidden reports whether the create lag still hides remote.
func (f *Fs) hidden(remote string) bool {
	if f.st.isPending(f.key(remote)) {
		f.stats.lagNotFound.Add(1)
		return true
	}
	return false
}

// Check the interfaces are satisfied.
var (
	_ fs.Fs          = (*Fs)(nil)
	_ fs.ListRer     = (*Fs)(nil)
	_ fs.PutStreamer = (*Fs)(nil)
	_ fs.Abouter     = (*Fs)(nil)
	_ fs.Shutdowner  = (*Fs)(nil)
	_ fs.UnWrapper   = (*Fs)(nil)
	_ fs.Wrapper     = (*Fs)(nil)
)
