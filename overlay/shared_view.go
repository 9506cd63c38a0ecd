package overlay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// An instance's views of the shared records of listed folders. Reading
// 100,000 records of a folder from Redis at every listing costs half a
// second; a view keeps them decoded in this process and asks Redis, in
// one script (shared_view.lua), only for the names changed since the
// version it holds. Every change of a folder's records raises the
// folder's version in the same script that makes it (shared_set.lua), so
// a listing through any instance sees every write acknowledged before it
// started, as if it had read them all.
//
// A view is read again whole when it cannot tell what changed: the
// first time, when the marker changed (Redis lost its data, or was
// flushed), when the folder's version went back (its keys expired), when
// more names changed than g:<dir> keeps, when its count disagrees with
// Redis's, and every viewRefresh, which bounds the life of any error we
// did not foresee (a Redis that lost some writes and kept its marker).

const (
	// viewLogMax is how many changed names a folder's change log keeps;
	// a view further behind reads the whole folder.
	viewLogMax = 10000
	// viewRefresh is how often a view is read whole even when nothing
	// says it must be.
	viewRefresh = time.Minute
	// viewIdle is how long a view nobody listed is kept.
	viewIdle = 10 * time.Minute
)

// dirViews are the views of one instance, by folder.
type dirViews struct {
	mu   sync.Mutex
	dirs map[string]*dirView
}

// dirView is one folder's records as of version.
type dirView struct {
	mu      sync.Mutex // one refresh at a time
	recs    *folder    // nil: never read
	marker  string     // the marker when read; "" none (read whole next time)
	version string
	loaded  time.Time // when last read whole
	used    time.Time
}

// get returns dir's view, and forgets the views not used for viewIdle.
func (vs *dirViews) get(dir string, now time.Time) *dirView {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.dirs == nil {
		vs.dirs = map[string]*dirView{}
	}
	for d, v := range vs.dirs {
		if now.Sub(v.used) > viewIdle {
			delete(vs.dirs, d)
		}
	}
	v := vs.dirs[dir]
	if v == nil {
		v = &dirView{}
		vs.dirs[dir] = v
	}
	v.used = now
	return v
}

func (o *sharedRecords) viewDir(ctx context.Context, dir string) ([]*record, error) {
	v := o.views.get(dir, time.Now())
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := o.refresh(ctx, dir, v); err != nil {
		return nil, err
	}
	return v.recs.view(), nil
}

// refresh brings v up to dir's records in Redis (caller holds v.mu).
func (o *sharedRecords) refresh(ctx context.Context, dir string, v *dirView) error {
	whole := v.recs == nil || v.marker == "" || time.Since(v.loaded) > viewRefresh
	for range 2 {
		since := v.version
		if whole {
			since = ""
		}
		d, err := o.readView(ctx, dir, since)
		if err != nil {
			return err
		}
		switch {
		case !d.whole && d.marker != v.marker:
			whole = true // Redis lost its data since v was read
			continue
		case d.whole:
			recs, err := packRecords(dir, d.names, d.vals)
			if err != nil {
				return err
			}
			v.recs, v.loaded = newFolder(), time.Now()
			for i := range recs {
				v.recs.set(&recs[i])
			}
			d.names = nil
		}
		for i, name := range d.names {
			if d.vals[i] == nil {
				if r := v.recs.get(name); r != nil {
					v.recs.remove(r)
				}
				continue
			}
			r, err := decodeRecord(keyIn(dir, name), *d.vals[i])
			if err != nil {
				return err
			}
			v.recs.set(&r)
		}
		v.marker, v.version = d.marker, d.version
		if v.recs.len() == d.size || d.whole {
			return nil
		}
		whole = true // v disagrees with Redis: read it whole
	}
	return nil
}

// packRecords decodes a folder read whole into records laid out in name
// order, their paths in one block in the same order: a merge walks them in
// that order, and reads memory in sequence instead of one scattered record
// and name per step (a third of a 100,000-record merge's time).
func packRecords(dir string, names []string, vals []*string) ([]record, error) {
	order := make([]int, 0, len(names))
	size := 0
	for i, name := range names {
		if vals[i] != nil {
			order = append(order, i)
			size += len(dir) + len(name) + 4
		}
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	buf := make([]byte, 0, size)
	ends := make([]int, len(order))
	for k, i := range order {
		buf = appendPath(buf, dir, names[i])
		ends[k] = len(buf)
	}
	block := string(buf)
	recs := make([]record, len(order))
	start := 0
	for k, i := range order {
		r, err := decodeRecord(objectKey{path: block[start:ends[k]], dir: dir, name: names[i]}, *vals[i])
		if err != nil {
			return nil, err
		}
		recs[k], start = r, ends[k]
	}
	return recs, nil
}

// viewRead is what shared_view.lua answered: the records changed since
// the version asked (all of them when whole), a nil value for one dropped.
type viewRead struct {
	marker  string // "" none
	version string
	size    int // the folder's records in Redis
	whole   bool
	names   []string
	vals    []*string
}

// readView runs shared_view.lua for dir.
func (o *sharedRecords) readView(ctx context.Context, dir, since string) (viewRead, error) {
	var reply []any
	_, err := o.do(ctx, SharedView, func(ctx context.Context) error {
		keys := []string{o.k.dir(dir), o.k.version(dir), o.k.changes(dir), o.k.marker()}
		var err error
		reply, err = viewScript.Run(ctx, o.rdb, keys, since).Slice()
		return err
	})
	if err != nil {
		return viewRead{}, err
	}
	d, err := parseView(reply)
	if err != nil {
		return viewRead{}, &RemoteError{Op: "shared overlay view", Err: fmt.Errorf("%w: %w", ErrOverlayUnavailable, err)}
	}
	return d, nil
}

// parseView reads shared_view.lua's reply: {marker, version, size, 1,
// {name, value, ...}} or {marker, version, size, 0, {names}, {values}}.
func parseView(reply []any) (viewRead, error) {
	bad := fmt.Errorf("unexpected view reply %.200v", reply)
	if len(reply) < 5 {
		return viewRead{}, bad
	}
	var d viewRead
	d.marker, _ = reply[0].(string) // nil: no marker
	ver, ok1 := reply[1].(string)
	size, ok2 := reply[2].(int64)
	whole, ok3 := reply[3].(int64)
	list, ok4 := reply[4].([]any)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return viewRead{}, bad
	}
	d.version, d.size, d.whole = ver, int(size), whole == 1
	str := func(x any) *string {
		s, ok := x.(string)
		if !ok {
			return nil
		}
		return &s
	}
	if d.whole {
		if len(list)%2 != 0 {
			return viewRead{}, bad
		}
		for i := 0; i < len(list); i += 2 {
			name := str(list[i])
			if name == nil {
				return viewRead{}, bad
			}
			d.names = append(d.names, *name)
			d.vals = append(d.vals, str(list[i+1]))
		}
		return d, nil
	}
	if len(reply) < 6 {
		return viewRead{}, bad
	}
	vals, ok := reply[5].([]any)
	if !ok || len(vals) != len(list) {
		return viewRead{}, bad
	}
	for i := range list {
		name := str(list[i])
		if name == nil {
			return viewRead{}, bad
		}
		d.names = append(d.names, *name)
		d.vals = append(d.vals, str(vals[i]))
	}
	return d, nil
}
