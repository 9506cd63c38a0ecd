package lagfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/memory"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/config/configmap"
	"github.com/rclone/rclone/fs/fserrors"
	"github.com/rclone/rclone/fs/hash"
	"github.com/rclone/rclone/fs/object"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

var bucketSeq atomic.Int64

// backends returns the wrapped remotes every lag test runs on: a fresh
// memory bucket and a fresh local temp dir.
func backends(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"memory": fmt.Sprintf(":memory:lagtest%d", bucketSeq.Add(1)),
		"local":  t.TempDir(),
	}
}

// newLag opens a lag Fs through rclone's connection string parsing, the
// way users configure it.
func newLag(t *testing.T, remote, opts string) *Fs {
	t.Helper()
	spec := testutil.LagSpec(remote, opts)
	f, err := fs.NewFs(context.Background(), spec)
	if err != nil {
		t.Fatalf("NewFs(%s): %v", spec, err)
	}
	lf, ok := FromFs(f)
	if !ok {
		t.Fatalf("FromFs(%T) not a lag Fs", f)
	}
	return lf
}

func put(t *testing.T, f fs.Fs, remote, data string) fs.Object {
	t.Helper()
	src := object.NewStaticObjectInfo(remote, time.Now(), int64(len(data)), true, nil, nil)
	o, err := f.Put(context.Background(), bytes.NewReader([]byte(data)), src)
	if err != nil {
		t.Fatalf("Put %s: %v", remote, err)
	}
	return o
}

func listNames(t *testing.T, f fs.Fs, dir string) []string {
	t.Helper()
	entries, err := f.List(context.Background(), dir)
	if err != nil && !errors.Is(err, fs.ErrorDirNotFound) {
		t.Fatalf("List %q: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		if _, ok := e.(fs.Object); ok {
			names = append(names, e.Remote())
		}
	}
	slices.Sort(names)
	return names
}

func listRNames(t *testing.T, f *Fs, dir string) []string {
	t.Helper()
	var names []string
	err := f.ListR(context.Background(), dir, func(entries fs.DirEntries) error {
		for _, e := range entries {
			if _, ok := e.(fs.Object); ok {
				names = append(names, e.Remote())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ListR %q: %v", dir, err)
	}
	slices.Sort(names)
	return names
}

func TestCreateLag(t *testing.T) {
	const lag = 300 * time.Millisecond
	for name, remote := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newLag(t, remote, "create_lag=300ms")
			put(t, f, "dir/old", "old") // visible only after the lag too
			time.Sleep(lag + 50*time.Millisecond)

			start := time.Now()
			h := put(t, f, "dir/new", "fresh data")

			// Hidden from lookups and listings.
			if _, err := f.NewObject(ctx, "dir/new"); !errors.Is(err, fs.ErrorObjectNotFound) {
				t.Fatalf("NewObject during lag: err=%v, want ErrorObjectNotFound", err)
			}
			if got := listNames(t, f, "dir"); !slices.Equal(got, []string{"dir/old"}) {
				t.Fatalf("List during lag = %v, want [dir/old]", got)
			}
			if f.Features().ListR != nil {
				if got := listRNames(t, f, ""); !slices.Equal(got, []string{"dir/old"}) {
					t.Fatalf("ListR during lag = %v, want [dir/old]", got)
				}
			}
			// The handle Put returned works, like a pCloud file id.
			if h.Size() != int64(len("fresh data")) {
				t.Fatalf("handle Size = %d", h.Size())
			}
			if got := testutil.ReadObject(context.Background(), t, h); got != "fresh data" {
				t.Fatalf("handle Open read %q", got)
			}
			sum, err := h.Hash(ctx, hash.MD5)
			if err != nil || sum != "c42718748dc4ba8203d0c0c6c5872fc2" {
				t.Fatalf("handle Hash = %q, %v", sum, err)
			}
			// A listed handle of an earlier version: an overwrite hides the
			// name again, so Open of that stale handle fails.
			old, err := f.NewObject(ctx, "dir/old")
			if err != nil {
				t.Fatalf("NewObject dir/old: %v", err)
			}
			// Remove in the window: not found, and the object stays.
			if err := h.Remove(ctx); !errors.Is(err, fs.ErrorObjectNotFound) {
				t.Fatalf("Remove during lag: err=%v, want ErrorObjectNotFound", err)
			}
			if _, err := f.UnWrap().NewObject(ctx, "dir/new"); err != nil {
				t.Fatalf("object must stay below after a refused Remove: %v", err)
			}
			put(t, f, "dir/old", "old2")
			if _, err := old.Open(ctx); !errors.Is(err, fs.ErrorObjectNotFound) {
				t.Fatalf("Open of looked-up handle during lag: err=%v, want not found", err)
			}

			// It reappears once the lag has passed, with its content.
			var o fs.Object
			testutil.Eventually(t, "dir/new visible", 2*lag+time.Second, func() bool {
				o, err = f.NewObject(ctx, "dir/new")
				return err == nil
			})
			if since := time.Since(start); since < lag {
				t.Fatalf("visible after %v, before the %v lag", since, lag)
			}
			if got := testutil.ReadObject(context.Background(), t, o); got != "fresh data" {
				t.Fatalf("read after lag %q", got)
			}
			testutil.Eventually(t, "dir/old listed", 2*lag+time.Second, func() bool {
				return slices.Equal(listNames(t, f, "dir"), []string{"dir/new", "dir/old"})
			})
			st := f.Stats()
			if st.LagNotFound < 3 || st.LagHidden < 1 {
				t.Fatalf("lag counters too low: %+v", st)
			}
		})
	}
}

func TestDeleteLag(t *testing.T) {
	const lag = 300 * time.Millisecond
	for name, remote := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newLag(t, remote, "delete_lag=300ms")
			h := put(t, f, "locks/a", "lock")
			put(t, f, "locks/b", "other")
			o, err := f.NewObject(ctx, "locks/a")
			if err != nil {
				t.Fatalf("NewObject with no create lag: %v", err)
			}
			mod := o.ModTime(ctx)
			start := time.Now()
			if err := o.Remove(ctx); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			// Really gone below, gone for lookups...
			if _, err := f.UnWrap().NewObject(ctx, "locks/a"); !errors.Is(err, fs.ErrorObjectNotFound) {
				t.Fatalf("wrapped remote still has it: %v", err)
			}
			if _, err := f.NewObject(ctx, "locks/a"); !errors.Is(err, fs.ErrorObjectNotFound) {
				t.Fatalf("NewObject after Remove: err=%v, want not found", err)
			}
			// ...but still listed with its old size and modtime.
			entries, err := f.List(ctx, "locks")
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var ghost fs.Object
			for _, e := range entries {
				if e.Remote() == "locks/a" {
					ghost = e.(fs.Object)
				}
			}
			if ghost == nil {
				t.Fatalf("removed object missing from List during delete lag: %v", entries)
			}
			if ghost.Size() != h.Size() || !ghost.ModTime(ctx).Equal(mod) {
				t.Fatalf("ghost size/modtime = %d/%v, want %d/%v", ghost.Size(), ghost.ModTime(ctx), h.Size(), mod)
			}
			if _, err := ghost.Open(ctx); !errors.Is(err, fs.ErrorObjectNotFound) {
				t.Fatalf("Open of ghost: err=%v, want not found", err)
			}
			if f.Features().ListR != nil {
				if got := listRNames(t, f, "locks"); !slices.Equal(got, []string{"locks/a", "locks/b"}) {
					t.Fatalf("ListR during delete lag = %v", got)
				}
			}
			d := testutil.Eventually(t, "locks/a unlisted", 2*lag+time.Second, func() bool {
				return slices.Equal(listNames(t, f, "locks"), []string{"locks/b"})
			})
			if since := time.Since(start); since < lag {
				t.Fatalf("unlisted after %v (%v polling), before the %v lag", since, d, lag)
			}
		})
	}
}

// TestDeleteLagDirGone covers a folder removed below together with its
// last object: the ghost must still be listed although the wrapped remote
// answers ErrorDirNotFound.
func TestDeleteLagDirGone(t *testing.T) {
	ctx := context.Background()
	f := newLag(t, t.TempDir(), "delete_lag=300ms")
	o := put(t, f, "locks/only", "x")
	if err := o.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := f.Rmdir(ctx, "locks"); err != nil {
		t.Fatalf("Rmdir: %v", err)
	}
	if _, err := f.UnWrap().List(ctx, "locks"); !errors.Is(err, fs.ErrorDirNotFound) {
		t.Fatalf("wrapped List err = %v, want ErrorDirNotFound (the case under test)", err)
	}
	if got := listNames(t, f, "locks"); !slices.Equal(got, []string{"locks/only"}) {
		t.Fatalf("List = %v, want the ghost", got)
	}
	testutil.Eventually(t, "ghost gone", 2*time.Second, func() bool {
		_, err := f.List(ctx, "locks")
		return errors.Is(err, fs.ErrorDirNotFound)
	})
}

func TestRecreateClearsGhost(t *testing.T) {
	ctx := context.Background()
	f := newLag(t, t.TempDir(), "delete_lag=5s")
	o := put(t, f, "k", "1")
	if err := o.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	put(t, f, "k", "22")
	o2, err := f.NewObject(ctx, "k")
	if err != nil {
		t.Fatalf("NewObject after re-create: %v", err)
	}
	if got := testutil.ReadObject(context.Background(), t, o2); got != "22" {
		t.Fatalf("read %q", got)
	}
	entries, err := f.List(ctx, "")
	if err != nil || len(entries) != 1 || entries[0].Size() != 2 {
		t.Fatalf("List after re-create = %v, %v; want just the new k", entries, err)
	}
}

func TestLatency(t *testing.T) {
	const lat = 50 * time.Millisecond
	for name, remote := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newLag(t, remote, "latency=50ms")
			ops := map[string]func() error{
				"Put": func() error {
					_, err := f.Put(ctx, bytes.NewReader([]byte("x")), object.NewStaticObjectInfo("d/x", time.Now(), 1, true, nil, nil))
					return err
				},
				"List":      func() error { _, err := f.List(ctx, "d"); return err },
				"NewObject": func() error { _, err := f.NewObject(ctx, "d/x"); return err },
				"Open": func() error {
					o, err := f.NewObject(ctx, "d/x")
					if err != nil {
						return err
					}
					start := time.Now()
					rc, err := o.Open(ctx)
					if err == nil {
						err = rc.Close()
					}
					if d := time.Since(start); d < lat {
						return fmt.Errorf("Open alone took %v", d)
					}
					return err
				},
				"Mkdir": func() error { return f.Mkdir(ctx, "e") },
				"Rmdir": func() error { return f.Rmdir(ctx, "e") },
			}
			for _, op := range []string{"Put", "List", "NewObject", "Open", "Mkdir", "Rmdir"} {
				start := time.Now()
				if err := ops[op](); err != nil {
					t.Fatalf("%s: %v", op, err)
				}
				if d := time.Since(start); d < lat {
					t.Fatalf("%s took %v, want >= %v", op, d, lat)
				}
			}
		})
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	f := newLag(t, t.TempDir(), "latency=10s")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := f.List(ctx, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("List err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancelled call took %v", d)
	}
}

// allOpsCalls runs one call of each error_ops class and returns the error
// of each, keyed by class.
func allOpsCalls(f *Fs, seeded fs.Object) map[string]error {
	ctx := context.Background()
	res := map[string]error{}
	_, res[OpList] = f.List(ctx, "")
	_, res[OpStat] = f.NewObject(ctx, seeded.Remote())
	_, res[OpPut] = f.Put(ctx, bytes.NewReader([]byte("p")), object.NewStaticObjectInfo("p", time.Now(), 1, true, nil, nil))
	rc, err := seeded.Open(ctx)
	if err == nil {
		err = rc.Close()
	}
	res[OpGet] = err
	res[OpDelete] = seeded.Remove(ctx)
	return res
}

func TestErrorRate(t *testing.T) {
	dir := t.TempDir()
	seedObj := func() fs.Object { return put(t, newLag(t, dir, ""), "seed", "s") }

	t.Run("all ops at rate 1", func(t *testing.T) {
		o := seedObj()
		f := newLag(t, dir, "error_rate=1")
		for op, err := range allOpsCalls(f, &Object{Object: o.(*Object).Object, f: f}) {
			if !errors.Is(err, ErrInjected) || !fserrors.IsRetryError(err) {
				t.Errorf("%s: err=%v, want retriable injected error", op, err)
			}
		}
		if got := f.Stats().Injected; got != 5 {
			t.Errorf("Injected = %d, want 5", got)
		}
		// The failed delete must not have touched the remote.
		if _, err := f.UnWrap().NewObject(context.Background(), "seed"); err != nil {
			t.Errorf("injected Remove reached the remote: %v", err)
		}
	})
	t.Run("selected ops at rate 1", func(t *testing.T) {
		o := seedObj()
		// A comma list must be quoted inside a connection string.
		f := newLag(t, dir, `error_rate=1,error_ops="list,put"`)
		for op, err := range allOpsCalls(f, &Object{Object: o.(*Object).Object, f: f}) {
			want := op == OpList || op == OpPut
			if got := errors.Is(err, ErrInjected); got != want {
				t.Errorf("%s: err=%v, injected=%v want %v", op, err, got, want)
			} else if !want && err != nil {
				t.Errorf("%s: unexpected error %v", op, err)
			}
		}
	})
	t.Run("rate 0 never fails", func(t *testing.T) {
		f := newLag(t, dir, "error_rate=0")
		for i := range 50 {
			o := put(t, f, fmt.Sprintf("z%d", i), "z")
			for op, err := range allOpsCalls(f, o) {
				if err != nil {
					t.Fatalf("round %d %s: %v", i, op, err)
				}
			}
		}
		if got := f.Stats().Injected; got != 0 {
			t.Fatalf("Injected = %d", got)
		}
	})
	t.Run("rate 0.5 seeded", func(t *testing.T) {
		count := func() int64 {
			f := newLag(t, dir, "error_rate=0.5,error_ops=list,seed=42")
			for range 200 {
				_, _ = f.List(context.Background(), "")
			}
			return f.Stats().Injected
		}
		a, b := count(), count()
		if a < 60 || a > 140 {
			t.Fatalf("%d of 200 failed at rate 0.5", a)
		}
		if a != b {
			t.Fatalf("same seed gave %d and %d failures", a, b)
		}
	})
}

func TestJitter(t *testing.T) {
	ctx := context.Background()
	f := newLag(t, t.TempDir(), "create_lag=100ms,jitter=300ms,seed=7")
	const n = 20
	start := time.Now()
	for i := range n {
		put(t, f, fmt.Sprintf("j%02d", i), "j")
	}
	// Every object is hidden for at least create_lag.
	if got := listNames(t, f, ""); len(got) != 0 {
		t.Fatalf("visible before create_lag: %v", got)
	}
	seen := map[string]time.Duration{}
	testutil.Eventually(t, "all visible", 2*time.Second, func() bool {
		for i := range n {
			name := fmt.Sprintf("j%02d", i)
			if _, ok := seen[name]; ok {
				continue
			}
			if _, err := f.NewObject(ctx, name); err == nil {
				seen[name] = time.Since(start)
			}
		}
		return len(seen) == n
	})
	lo, hi := time.Hour, time.Duration(0)
	for _, d := range seen {
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 100*time.Millisecond {
		t.Fatalf("an object was visible after %v, before create_lag", lo)
	}
	if hi-lo < 50*time.Millisecond {
		t.Fatalf("jitter spread only %v..%v", lo, hi)
	}

	// Jitter stretches a configured lag; it does not invent a create lag.
	g := newLag(t, t.TempDir(), "delete_lag=100ms,jitter=1s")
	put(t, g, "now", "n")
	if _, err := g.NewObject(ctx, "now"); err != nil {
		t.Fatalf("jitter without create_lag hid a fresh object: %v", err)
	}
}

func TestSharedStateAcrossRoots(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sub, err := fs.NewFs(ctx, testutil.LagSpec(dir, "create_lag=5s")+"repo")
	if err != nil {
		t.Fatalf("NewFs: %v", err)
	}
	top := newLag(t, dir, "create_lag=5s")
	put(t, sub, "keys/k", "key")
	if _, err := top.NewObject(ctx, "repo/keys/k"); !errors.Is(err, fs.ErrorObjectNotFound) {
		t.Fatalf("other root sees fresh object: %v", err)
	}
}

func TestMemoryBounded(t *testing.T) {
	old := sweepEvery
	sweepEvery = 0
	defer func() { sweepEvery = old }()
	f := newLag(t, t.TempDir(), "create_lag=100ms,delete_lag=100ms")
	for i := range 100 {
		o := put(t, f, fmt.Sprintf("m%03d", i), "m")
		if i%2 == 0 {
			time.Sleep(time.Millisecond)
			_ = o
		}
	}
	if n := pendingLen(f); n < 50 {
		t.Fatalf("only %d pending entries right after the writes", n)
	}
	time.Sleep(150 * time.Millisecond)
	put(t, f, "trigger", "t") // a write sweeps expired entries
	if n := pendingLen(f); n != 1 {
		t.Fatalf("%d pending entries after the lag, want 1", n)
	}
}

func pendingLen(f *Fs) int {
	f.st.mu.Lock()
	defer f.st.mu.Unlock()
	return len(f.st.pending) + len(f.st.ghosts)
}

func TestConfig(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Run("env var", func(t *testing.T) {
		t.Setenv("RCLONE_LAG_CREATE_LAG", "250ms")
		f := newLag(t, dir, "")
		if got := time.Duration(f.Options().CreateLag); got != 250*time.Millisecond {
			t.Fatalf("create_lag from env = %v", got)
		}
	})
	t.Run("config section", func(t *testing.T) {
		m := configmap.Simple{"type": "lag", "remote": dir, "delete_lag": "2s", "latency": "5ms", "error_ops": "get,delete"}
		f, err := NewFs(ctx, "mylag", "", m)
		if err != nil {
			t.Fatalf("NewFs: %v", err)
		}
		o := f.(*Fs).Options()
		if time.Duration(o.DeleteLag) != 2*time.Second || time.Duration(o.Latency) != 5*time.Millisecond ||
			!slices.Equal([]string(o.ErrorOps), []string{"get", "delete"}) {
			t.Fatalf("options = %+v", o)
		}
	})
	for name, m := range map[string]configmap.Simple{
		"missing remote": {},
		"self":           {"remote": "mylag:x"},
		"rate > 1":       {"remote": dir, "error_rate": "1.5"},
		"unknown op":     {"remote": dir, "error_ops": "list,frob"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewFs(ctx, "mylag", "", m); err == nil {
				t.Fatalf("NewFs accepted %v", m)
			}
		})
	}
	t.Run("FromFs", func(t *testing.T) {
		base, err := fs.NewFs(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := FromFs(base); ok {
			t.Fatal("FromFs accepted a local Fs")
		}
	})
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	f := newLag(t, t.TempDir(), "")
	o := put(t, f, "a", "1")
	_, _ = f.List(ctx, "")
	_, _ = f.NewObject(ctx, "a")
	_, _ = f.NewObject(ctx, "b")
	_ = testutil.ReadObject(context.Background(), t, o)
	_ = o.Remove(ctx)
	want := Stats{Put: 1, List: 1, NewObject: 2, Open: 1, Remove: 1}
	if got := f.Stats(); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
	if f.Stats().Calls() != 6 {
		t.Fatalf("Calls = %d", f.Stats().Calls())
	}
	f.ResetStats()
	if f.Stats() != (Stats{}) {
		t.Fatalf("after reset: %+v", f.Stats())
	}
}
