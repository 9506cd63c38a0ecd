package pcloudemu

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"
)

// node is a folder or a file. Folders and files have separate id spaces, as
// in pCloud (rclone prefixes them with "d" and "f").
type node struct {
	id       int64
	isFolder bool
	name     string
	parent   *node // nil for the root folder
	created  time.Time
	modified time.Time

	// folders
	children map[string]*node
	ghosts   []ghost // deleted or moved-away files still listed (ListLag)

	// files
	data        []byte // never mutated in place: an overwrite swaps the slice
	sha1, md5   string
	sha256      string // reported in the EU region only
	hash        uint64
	contentType string
	writtenAt   time.Time // last upload; FreshWindow counts from here
	visibleFrom time.Time // first time listfolder shows this name
}

// ghost is a snapshot of a file that listfolder keeps showing after it was
// deleted, the way pCloud's listings trail deletes.
type ghost struct {
	snap  node
	until time.Time
}

func newFolder(id int64, name string, parent *node, now time.Time) *node {
	return &node{id: id, isFolder: true, name: name, parent: parent, created: now, modified: now, children: map[string]*node{}}
}

// setContent replaces the file's bytes and checksums.
func (n *node) setContent(data []byte, contentType string) {
	s := sha1.Sum(data)
	m := md5.Sum(data)
	s2 := sha256.Sum256(data)
	n.data = data
	n.sha1 = hex.EncodeToString(s[:])
	n.md5 = hex.EncodeToString(m[:])
	n.sha256 = hex.EncodeToString(s2[:])
	// pCloud's "hash" is an opaque 64-bit content hash; derive ours from sha1.
	n.hash = binary.BigEndian.Uint64(s[:8])
	n.contentType = contentType
}

// path returns the absolute path of n ("/" for the root).
func (n *node) path() string {
	if n.parent == nil {
		return "/"
	}
	var parts []string
	for c := n; c.parent != nil; c = c.parent {
		parts = append(parts, c.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/")
}

// isUnder reports whether n is dir or inside it.
func (n *node) isUnder(dir *node) bool {
	for c := n; c != nil; c = c.parent {
		if c == dir {
			return true
		}
	}
	return false
}

const pcloudTime = time.RFC1123Z

// deletedMetadata is n's metadata as a delete answers and records it.
func (n *node) deletedMetadata() map[string]any {
	md := n.metadata()
	md["isdeleted"] = true
	return md
}

// metadata renders n the way pCloud's API does. Maps keep optional fields
// out exactly where pCloud leaves them out (root has no parentfolderid).
func (n *node) metadata() map[string]any {
	m := map[string]any{
		"name":     n.name,
		"created":  n.created.UTC().Format(pcloudTime),
		"modified": n.modified.UTC().Format(pcloudTime),
		"ismine":   true,
		"thumb":    false,
		"comments": 0,
		"isshared": false,
		"isfolder": n.isFolder,
	}
	if n.parent != nil {
		m["parentfolderid"] = n.parent.id
	} else {
		m["path"] = "/"
	}
	if n.isFolder {
		m["id"] = "d" + strconv.FormatInt(n.id, 10)
		m["folderid"] = n.id
		m["icon"] = "folder"
	} else {
		m["id"] = "f" + strconv.FormatInt(n.id, 10)
		m["fileid"] = n.id
		m["icon"] = "file"
		m["category"] = 0
		m["size"] = int64(len(n.data))
		m["hash"] = n.hash
		m["contenttype"] = n.contentType
	}
	return m
}

// listed returns the entries listfolder shows for folder f at now: live
// children whose listing lag has passed, plus ghosts of deleted files not yet
// dropped, sorted by name. Expired ghosts are pruned as a side effect.
func (f *node) listed(now time.Time, noFiles bool) []*node {
	out := make([]*node, 0, len(f.children))
	seen := make(map[string]bool, len(f.children))
	for _, c := range f.children {
		if !c.isFolder && (noFiles || now.Before(c.visibleFrom)) {
			continue
		}
		out = append(out, c)
		seen[c.name] = true
	}
	kept := f.ghosts[:0]
	for _, g := range f.ghosts {
		if !now.Before(g.until) {
			continue
		}
		kept = append(kept, g)
		if !noFiles && !seen[g.snap.name] {
			snap := g.snap
			out = append(out, &snap)
			seen[g.snap.name] = true
		}
	}
	f.ghosts = kept
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// listing renders folder f with its (optionally recursive) contents.
func (f *node) listing(now time.Time, recursive, noFiles bool) map[string]any {
	m := f.metadata()
	contents := []map[string]any{}
	for _, c := range f.listed(now, noFiles) {
		if c.isFolder && recursive {
			contents = append(contents, c.listing(now, true, noFiles))
		} else {
			contents = append(contents, c.metadata())
		}
	}
	m["contents"] = contents
	return m
}

// validName mirrors pCloud refusing empty names and path separators.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.Contains(name, "/") && len(name) <= 1024
}
