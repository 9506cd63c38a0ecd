package overlay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/walk"
)

// Entry is one listed object.
type Entry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// List returns the objects of type t in repo, sorted by name: the remote's
// listing plus recent creates minus recent deletes. A missing folder is an
// empty list; a remote error is an error, never an empty list.
func (s *Store) List(ctx context.Context, repo string, t Type) ([]Entry, error) {
	if t == Config {
		return nil, fmt.Errorf("%w: config is not a folder", ErrInvalid)
	}
	if _, ok := ParseType(string(t)); !ok {
		return nil, fmt.Errorf("%w: unknown type %q", ErrInvalid, t)
	}
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	return s.list(ctx, typeDir(repo, t))
}

// listing is one remote listing, sorted by name, and when it started.
type listing struct {
	entries []Entry
	start   time.Time
}

// listCacheTTL is how long a client's listing reuses the last remote
// listing of a folder. The overlay keeps that correct: every write and
// delete through this instance since the listing is a record, and a
// record outlives its confirmation (retireGrace) by more than this, while
// the listing that confirms it replaces the cached one. Only writers that
// bypass steadyrest go unseen for this long, as the contract allows. On a
// far cloud it saves most of restic's listings (locks, keys, snapshots at
// every command's start).
const listCacheTTL = 30 * time.Second

// list returns dir's listing with the overlay applied, reusing a recent
// remote listing (listCacheTTL).
func (s *Store) list(ctx context.Context, dir string) ([]Entry, error) {
	s.listMu.Lock()
	l, ok := s.listCache[dir]
	s.listMu.Unlock()
	if ok && time.Since(l.start) < listCacheTTL {
		out, _, err := s.merge(ctx, dir, l)
		return out, err
	}
	out, _, err := s.listFresh(ctx, dir)
	return out, err
}

// listFresh lists dir on the remote (the confirmer needs its current view,
// not a cached one) and applies the overlay. It also tells how many
// records the listing confirmed.
func (s *Store) listFresh(ctx context.Context, dir string) ([]Entry, int, error) {
	// Concurrent listings of one folder share one remote call; each caller
	// applies the overlay after it returns, so a write acknowledged while
	// the call was in flight still shows.
	v, err, _ := s.lists.Do(dir, func() (any, error) {
		start := time.Now()
		entries, err := s.listRemote(context.WithoutCancel(ctx), dir)
		l := listing{entries: entries, start: start}
		if err == nil {
			s.listMu.Lock()
			if cur, ok := s.listCache[dir]; !ok || cur.start.Before(start) {
				s.listCache[dir] = l
			}
			s.listMu.Unlock()
		}
		return l, err
	})
	if err != nil {
		return nil, 0, err
	}
	return s.merge(ctx, dir, v.(listing))
}

func (s *Store) listRemote(ctx context.Context, dir string) ([]Entry, error) {
	start := time.Now()
	depth := listDepth(dir)
	entries := []Entry{}
	var objs []fs.Object
	err := s.remote(OpList, func() error {
		return walk.ListR(ctx, s.f, dir, true, depth, walk.ListObjects, func(des fs.DirEntries) error {
			for _, de := range des {
				o, ok := de.(fs.Object)
				if !ok {
					continue
				}
				name := o.Remote()[strings.LastIndexByte(o.Remote(), '/')+1:]
				if !IsHexID(name) {
					continue // not a restic object (a partial upload, a stray file)
				}
				entries = append(entries, Entry{Name: name, Size: o.Size()})
				objs = append(objs, o)
			}
			return nil
		})
	})
	if errors.Is(err, fs.ErrorDirNotFound) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, &RemoteError{Op: fmt.Sprintf("list %s", dir), Err: err}
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	if isDataDir(dir) {
		s.noteFolderSizes(objs)
	}
	// Keep the handles: restic reads or deletes what it just listed (a
	// prune deletes from its one listing of data/ for minutes, and a
	// lookup before each delete would add a call per pack). Past
	// maxListedHandles, a listing's handles would only push out others.
	if len(objs) <= maxListedHandles {
		for _, o := range objs {
			s.handles.add(o.Remote(), o, start)
		}
	}
	return entries, nil
}

// noteFolderSizes counts the objects of each prefix folder a data/
// listing shows (folderSizes).
func (s *Store) noteFolderSizes(objs []fs.Object) {
	sizes := map[string]int{}
	for _, o := range objs {
		if k, ok := parseKey(o.Remote()); ok {
			if folder, ok := k.prefixFolder(); ok {
				sizes[folder]++
			}
		}
	}
	s.folders.set(sizes)
}
