package overlay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/walk"
)

// Usage is what the repositories below the store's root hold, as the
// store counts it for a quota (--max-size): every file but steadyrest's
// own (IsOwnObject), as the clients see them through the overlay.
type Usage struct {
	Bytes   int64
	Objects int64
}

// usage keeps the Usage once CountUsage seeded it; from then on every
// Put and Remove through the store keeps it current. Writes that bypass
// this Store (other tools, other instances of a shared overlay) are not
// seen until the next seed.
type usage struct {
	seed sync.Mutex // held by CountUsage: one seed per Store
	mu   sync.Mutex
	on   bool
	cur  Usage
}

// CountUsage counts, once, what the store holds, and keeps the count
// current from then on (Usage). The count is one recursive listing of the
// remote with the overlay applied, as a client's listing is: an upload
// the remote does not show yet counts, an object deleted through
// steadyrest that the remote still shows does not. A later call returns
// the kept count without listing again. The listing also seeds the
// count of each data prefix folder's objects (folderSizes), which the
// same uploads and deletes keep current.
//
// Call it before the store serves writes: one acknowledged while the
// listing runs may be counted twice or not at all.
func (s *Store) CountUsage(ctx context.Context) (Usage, error) {
	s.usage.seed.Lock()
	defer s.usage.seed.Unlock()
	if u, ok := s.Usage(); ok {
		return u, nil
	}
	recorded, configs, err := s.recordedNames(ctx)
	if err != nil {
		return Usage{}, fmt.Errorf("count what the store holds: %w", err)
	}
	start := time.Now()
	var total Usage
	folders := map[string]int{}
	withRecords := map[string][]Entry{} // listed objects a record speaks for, by folder
	err = s.remote(OpList, func() error {
		return walk.ListR(ctx, s.f, "", true, -1, walk.ListObjects, func(des fs.DirEntries) error {
			for _, de := range des {
				o, ok := de.(fs.Object)
				if !ok || IsOwnObject(o.Remote()) {
					continue
				}
				k, restic := parseKey(o.Remote())
				if folder, ok := k.prefixFolder(); restic && ok {
					folders[folder]++
				}
				if restic && recorded[k.dir][k.name] {
					withRecords[k.dir] = append(withRecords[k.dir], Entry{Name: k.name, Size: o.Size()})
					continue
				}
				total.count(o.Size())
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, fs.ErrorDirNotFound) { // a root not made yet holds nothing
		return Usage{}, &RemoteError{Op: "count what the store holds: list the remote", Err: err}
	}
	// The folders with records get the overlay as a listing of them does
	// (merge): their other objects pass through a merge unchanged, so
	// only those a record speaks for are merged.
	for dir := range recorded {
		l := listing{entries: withRecords[dir], start: start}
		slices.SortFunc(l.entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
		var merged []Entry
		if rec, ok := configs[dir]; ok {
			// A config is in no listed folder: the rule, without the
			// confirmations, which a lookup of it makes instead.
			merged = mergeListing(l, []*record{&rec}).entries
		} else if merged, _, err = s.merge(ctx, dir, l); err != nil {
			return Usage{}, fmt.Errorf("count what the store holds: %w", err)
		}
		for _, e := range merged {
			total.count(e.Size)
		}
	}
	s.folders.seed(folders)
	s.usage.mu.Lock()
	s.usage.on, s.usage.cur = true, total
	s.usage.mu.Unlock()
	return total, nil
}

// recordedNames returns the names the overlay holds a pending record of,
// by the folder they are listed under: the only ones whose count the
// overlay changes (a confirmed record agrees with the remote). A config's
// record, which no folder's records hold, comes in configs, by its
// repository.
func (s *Store) recordedNames(ctx context.Context) (names map[string]map[string]bool, configs map[string]record, err error) {
	names, configs = map[string]map[string]bool{}, map[string]record{}
	note := func(r record) {
		if names[r.key.dir] == nil {
			names[r.key.dir] = map[string]bool{}
		}
		names[r.key.dir][r.key.name] = true
	}
	for repo := range s.ov.countsByRepo() {
		config := Handle{Repo: repo, Type: Config}.key()
		r, ok, err := s.ov.get(ctx, config)
		if err != nil {
			return nil, nil, fmt.Errorf("overlay record of %s: %w", config.path, err)
		}
		if ok {
			note(r)
			configs[r.key.dir] = r
		}
		for _, t := range Types[1:] {
			dir := typeDir(repo, t)
			recs, err := s.ov.viewDir(ctx, dir)
			if err != nil {
				return nil, nil, fmt.Errorf("overlay records of %s: %w", dir, err)
			}
			for _, r := range recs {
				note(*r)
			}
		}
	}
	return names, configs, nil
}

// Usage returns what the store holds, ok false until CountUsage counted it.
func (s *Store) Usage() (u Usage, ok bool) {
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	return s.usage.cur, s.usage.on
}

// countPut is called by Put under key's lock, before the upload: it learns
// the size the object has now, and returns what counts the upload once
// Put returned *err, if that is nil. An overwrite counts the difference;
// an object the store does not know of (no record, no handle from a recent
// listing) is taken for new, but for a config, the one name restic
// writes again, which is looked up on the remote. A re-upload of an older
// object is then counted twice: the count errs high, never low.
func (s *Store) countPut(ctx context.Context, key objectKey, size int64, err *error) func() {
	if _, on := s.Usage(); !on {
		return func() {}
	}
	prior, existed := s.sizeBefore(ctx, key)
	return func() {
		if *err != nil {
			return
		}
		objects := int64(1)
		if existed {
			objects = 0
		}
		s.countChange(key, size-prior, objects)
	}
}

// sizeBefore returns the size of the object key as the store knows it,
// and whether it exists.
func (s *Store) sizeBefore(ctx context.Context, key objectKey) (int64, bool) {
	if r, ok, err := s.ov.get(ctx, key); err == nil && ok {
		if r.kind == created {
			return r.size, true
		}
		return 0, false // deleted, and no longer counted
	}
	if obj := s.handles.get(key.path); obj != nil {
		return max(obj.Size(), 0), true
	}
	if !key.isConfig() {
		return 0, false
	}
	obj, err := s.stat(ctx, key.path)
	if err != nil {
		return 0, false
	}
	return max(obj.Size(), 0), true
}

// countRemoved is called by Remove once it deleted key's object: prev is the
// object's record (nil for none), obj its handle (nil when the remote did
// not show it). A delete of an object the store knows nothing of counts
// nothing.
func (s *Store) countRemoved(key objectKey, prev *record, obj fs.Object) {
	if _, on := s.Usage(); !on {
		return
	}
	switch {
	case prev != nil:
		s.countChange(key, -prev.size, -1)
	case obj != nil:
		s.countChange(key, -max(obj.Size(), 0), -1)
	}
}

// countChange adds bytes and objects (negative for a delete) of key's
// object to the count, and the objects to its prefix folder's.
func (s *Store) countChange(key objectKey, bytes, objects int64) {
	s.usage.mu.Lock()
	u := &s.usage.cur
	u.Bytes, u.Objects = max(u.Bytes+bytes, 0), max(u.Objects+objects, 0)
	s.usage.mu.Unlock()
	if folder, ok := key.prefixFolder(); ok && objects != 0 {
		s.folders.add(folder, int(objects))
	}
}

// count adds one listed object of size bytes (a size the remote cannot
// tell counts 0).
func (u *Usage) count(size int64) {
	u.Bytes += max(size, 0)
	u.Objects++
}
