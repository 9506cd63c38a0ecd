package overlay

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Type is the kind of a restic repository object.
type Type string

// The object types of a restic repository.
const (
	Config    Type = "config"
	Data      Type = "data"
	Keys      Type = "keys"
	Locks     Type = "locks"
	Snapshots Type = "snapshots"
	Index     Type = "index"
)

// Types lists every object type, config first.
var Types = []Type{Config, Data, Keys, Locks, Snapshots, Index}

// ParseType returns the Type named s, or false when s is not a restic type.
func ParseType(s string) (Type, bool) {
	for _, t := range Types {
		if string(t) == s {
			return t, true
		}
	}
	return "", false
}

// Handle names one object of one repository.
//
// Repo is the repository's path below the remote root, without leading or
// trailing slash ("" for a repository at the root). Name is empty for Config
// and a 64-character lowercase hex ID otherwise. The proxy validates both
// before building a Handle; the cache checks them again (Validate) because a
// bad name must never reach the remote.
type Handle struct {
	Repo string
	Type Type
	Name string
}

func (h Handle) String() string {
	if h.Type == Config {
		return path.Join("/", h.Repo, "config")
	}
	return path.Join("/", h.Repo, string(h.Type), h.Name)
}

// Errors returned by the Store. The proxy maps them to status codes.
var (
	ErrNotFound     = errors.New("object not found")
	ErrExists       = errors.New("object already exists")
	ErrHashMismatch = errors.New("content does not match its name (SHA-256)")
	ErrSizeMismatch = errors.New("body length does not match the declared size")
	ErrInvalid      = errors.New("invalid object handle")
)

// IsHexID reports whether s is a restic object ID: 64 lowercase hex digits.
func IsHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ReservedDir is the folder below the served root that holds steadyrest's
// own objects (instance heartbeats, peers.go); no repository path may use
// it as a folder name.
const ReservedDir = ".steadyrest"

// IsOwnObject reports whether remote, a path below the served root, is one
// of steadyrest's own objects rather than a repository's (the quota does
// not count them): below ReservedDir, ours or that of an instance serving
// a sub-folder.
func IsOwnObject(remote string) bool {
	return strings.Contains("/"+remote, "/"+ReservedDir+"/")
}

// ValidRepoSegment reports whether s may be one folder of a repository
// path. It is the one rule for repository names, for the proxy and the
// store: ASCII letters, digits and - _ . @ +, at most 255 bytes, with no
// '.' first or last; not a restic type name (routing would be ambiguous),
// nor ReservedDir, where steadyrest keeps its own objects (at any depth, so
// that an instance serving a parent folder cannot reach them either).
//
// The set is strict ASCII on purpose. rclone maps characters of other
// ranges on their way to a remote, by the remote's encoding: fullwidth
// ．and ／ become . and / where the encoding lacks those rules (as the
// defaults of drive, swift and zoho, or any custom encoding, do), so a
// folder named ．． would climb out of its parent; the control pictures
// ␀–␟ become control bytes, and future encodings may map more. No name in
// this set is changed by any rclone encoding: the folder on the remote is
// the one the path names. A '.' at either end is left out for the same
// reason (some encodings map a leading or trailing one), and so are "."
// and "..".
func ValidRepoSegment(s string) bool {
	if s == "" || len(s) > 255 || s == ReservedDir || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	if _, isType := ParseType(s); isType {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !repoNameByte(s[i]) {
			return false
		}
	}
	return true
}

// repoNameByte reports whether c may stand in a repository folder's name.
func repoNameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '_' || c == '.' || c == '@' || c == '+'
}

// Validate checks the handle so that no malformed path reaches the remote.
func (h Handle) Validate() error {
	if err := validRepo(h.Repo); err != nil {
		return err
	}
	switch {
	case h.Type == Config:
		if h.Name != "" {
			return fmt.Errorf("%w: config has no name", ErrInvalid)
		}
	case h.Type == "":
		return fmt.Errorf("%w: no type", ErrInvalid)
	default:
		if _, ok := ParseType(string(h.Type)); !ok {
			return fmt.Errorf("%w: unknown type %q", ErrInvalid, h.Type)
		}
		if !IsHexID(h.Name) {
			return fmt.Errorf("%w: name %q is not a 64-digit hex ID", ErrInvalid, h.Name)
		}
	}
	return nil
}

// validRepo checks a repository path: "" (the remote's root) or segments
// ValidRepoSegment accepts.
func validRepo(repo string) error {
	if repo == "" {
		return nil
	}
	for _, seg := range strings.Split(repo, "/") {
		if !ValidRepoSegment(seg) {
			return fmt.Errorf("%w: repository path %q", ErrInvalid, repo)
		}
	}
	return nil
}

// objectKey is an object's place, built once: from its Handle (key),
// from the folder it is listed in and its name (keyIn), or from a stored
// key (parseKey). path: where it lives below the remote root, which is
// also its key in the journal and in Redis; dir: the folder restic lists
// it under (a config's: its repository); name: its name there.
type objectKey struct{ path, dir, name string }

// key is h's place (h valid).
func (h Handle) key() objectKey {
	if h.Type == Config {
		return keyIn(h.Repo, string(Config))
	}
	return keyIn(typeDir(h.Repo, h.Type), h.Name)
}

// keyIn is the place of name listed in dir (a config's dir is its
// repository).
func keyIn(dir, name string) objectKey {
	b := appendPath(make([]byte, 0, len(dir)+len(name)+4), dir, name) // sized once: every request builds one
	return objectKey{path: string(b), dir: dir, name: name}
}

// appendPath appends to b where name, listed in dir, lives: the one rule
// of an object's place. Data objects sit in two-character prefix folders,
// as restic's own layout has them, so that `restic -r
// rclone:remote:path` opens the same repository. parseKey is its
// inverse, listDepth and objectKey.folder follow from it.
func appendPath(b []byte, dir, name string) []byte {
	if dir != "" {
		b = append(append(b, dir...), '/')
	}
	if isDataDir(dir) && len(name) > 2 {
		b = append(append(b, name[:2]...), '/')
	}
	return append(b, name...)
}

// listDepth is how deep a listing of dir goes to find its objects: data
// objects sit one folder further down (appendPath).
func listDepth(dir string) int {
	if isDataDir(dir) {
		return 2
	}
	return 1
}

// parseKey reads a stored key (an object's remote path, from the journal,
// Redis or a listing) back into its place, undoing appendPath; ok tells
// it names a restic object.
func parseKey(key string) (k objectKey, ok bool) {
	i := strings.LastIndexByte(key, '/')
	dir, name := "", key
	if i >= 0 {
		dir, name = key[:i], key[i+1:]
	}
	if name == string(Config) {
		return objectKey{path: key, dir: dir, name: name}, true
	}
	if i < 0 {
		return objectKey{}, false
	}
	if j := strings.LastIndexByte(dir, '/'); j >= 0 && len(dir)-j-1 == 2 && isDataDir(dir[:j]) {
		dir = dir[:j]
	}
	return objectKey{path: key, dir: dir, name: name}, IsHexID(name)
}

// isConfig tells a repository's config: it lives in no listed folder, so
// a lookup confirms it instead of a listing.
func (k objectKey) isConfig() bool { return k.name == string(Config) }

// folder is the folder the object sits in on the remote: the one it is
// listed under, for data its prefix folder (repo/data/ab).
func (k objectKey) folder() string {
	return k.path[:max(strings.LastIndexByte(k.path, '/'), 0)]
}

// prefixFolder is the data prefix folder (repo/data/ab) the object sits
// in, ok false for any other object (or a stray one listed in data/
// itself).
func (k objectKey) prefixFolder() (string, bool) {
	f := k.folder()
	return f, isDataDir(k.dir) && f != k.dir
}

// repo is the repository path the object belongs to ("" for the root): a
// config sits in its repository's folder, every other object in the
// repository's type folder.
func (k objectKey) repo() string {
	if k.isConfig() {
		return k.dir
	}
	if repo := path.Dir(k.dir); repo != "." {
		return repo
	}
	return ""
}

// typeDir is the folder that holds every object of type t in repo.
func typeDir(repo string, t Type) string {
	return path.Join(repo, string(t))
}

// isDataDir tells whether dir is a repository's data/ folder.
func isDataDir(dir string) bool {
	return dir == string(Data) || strings.HasSuffix(dir, "/"+string(Data))
}
