package pcloudemu

// The file methods: uploads, deletes, renames and copies, and the tree
// changes they share (putFile, detachFile, removeFile).

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// putFile creates or overwrites parent/name. An overwrite keeps the file id
// (pCloud makes a new revision of the same file) and its place in listings.
func (s *Server) putFile(parent *node, name string, data []byte, ctype string, mtime, ctime time.Time, now time.Time) (*node, error) {
	if !validName(name) {
		return nil, errInvalidName
	}
	old := parent.children[name]
	if old != nil && old.isFolder {
		return nil, errExists
	}
	var oldSize int64
	if old != nil {
		oldSize = int64(len(old.data))
	}
	if s.usedBytes-oldSize+int64(len(data)) > s.opt.Quota {
		return nil, errOverQuota
	}
	defer func() {
		if n := parent.children[name]; n != nil {
			ev := "createfile"
			if old != nil {
				ev = "modifyfile"
			}
			s.recordEvent(ev, n, now)
		}
	}()
	if mtime.IsZero() {
		mtime = now
	}
	s.usedBytes += int64(len(data)) - oldSize
	if old != nil {
		old.setContent(data, ctype)
		old.modified = mtime
		old.writtenAt = now
		return old, nil
	}
	if ctime.IsZero() {
		ctime = now
	}
	n := &node{id: s.nextFile, name: name, parent: parent, created: ctime, modified: mtime, writtenAt: now, visibleFrom: now.Add(s.opt.ListLag)}
	s.nextFile++
	n.setContent(data, ctype)
	parent.children[name] = n
	s.files[n.id] = n
	return n, nil
}

// detachFile takes a file out of its folder. If listings already showed it,
// they keep showing it for ListLag (a ghost), as pCloud's do after a delete.
func (s *Server) detachFile(n *node, now time.Time) {
	parent := n.parent
	delete(parent.children, n.name)
	if s.opt.ListLag > 0 && !now.Before(n.visibleFrom) {
		snap := *n
		snap.children, snap.ghosts = nil, nil
		parent.ghosts = append(parent.ghosts, ghost{snap: snap, until: now.Add(s.opt.ListLag)})
	}
}

func (s *Server) removeFile(n *node, now time.Time) {
	s.detachFile(n, now)
	delete(s.files, n.id)
	s.usedBytes -= int64(len(n.data))
	md := n.deletedMetadata()
	s.recordEventMeta("deletefile", md, now)
}

// ---- methods ----

// uploadFile takes either a raw PUT body (name in "filename") or a
// multipart form whose file parts carry their names; rclone sends the former
// and, for empty files, the latter with the parameters as form fields.
func (s *Server) uploadFile(r *http.Request, p url.Values) (map[string]any, error) {
	var ups []upload
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method == http.MethodPost && mediaType == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, &apiError{2000, "bad multipart upload: " + err.Error()}
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read multipart upload: %w", err)
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return nil, fmt.Errorf("read multipart part: %w", err)
			}
			if part.FileName() == "" {
				p.Add(part.FormName(), string(data))
				continue
			}
			ups = append(ups, upload{name: part.FileName(), data: data, ctype: part.Header.Get("Content-Type")})
		}
	} else {
		data, err := io.ReadAll(r.Body)
		short := err != nil || (r.ContentLength >= 0 && int64(len(data)) != r.ContentLength)
		if short && isTrue(p.Get("nopartial")) {
			return nil, fmt.Errorf("upload cut short after %d bytes: %v", len(data), err)
		}
		// Without nopartial pCloud keeps what arrived; so do we.
		ups = append(ups, upload{name: p.Get("filename"), data: data, ctype: r.Header.Get("Content-Type")})
	}
	if len(ups) == 0 {
		return nil, &apiError{2000, "No file in upload."}
	}
	if ctype := p.Get("contenttype"); ctype != "" {
		for i := range ups {
			ups[i].ctype = ctype
		}
	}
	mtime, _ := unixParam(p, "mtime")
	ctime, _ := unixParam(p, "ctime")

	s.mu.Lock()
	defer s.mu.Unlock()
	folder, err := s.folderArg(p, "folderid", "path")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var (
		items     []map[string]any
		checksums []map[string]any
		ids       []int64
	)
	for _, u := range ups {
		if u.ctype == "" {
			u.ctype = "application/octet-stream"
		}
		n, err := s.putFile(folder, u.name, u.data, u.ctype, mtime, ctime, now)
		if err != nil {
			return nil, err
		}
		items = append(items, n.metadata())
		checksums = append(checksums, s.checksums(n))
		ids = append(ids, n.id)
	}
	return map[string]any{"metadata": items, "checksums": checksums, "fileids": ids}, nil
}

func (s *Server) deleteFile(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if s.refusesFresh(s.opt.FreshDeleteFails, n, now, &s.stats.FreshDeleteRefusals, "delete") {
		return nil, errNoFile
	}
	s.removeFile(n, now)
	md := n.deletedMetadata()
	return map[string]any{"metadata": md}, nil
}

func (s *Server) renameFile(_ *http.Request, p url.Values) (map[string]any, error) {
	return s.toDest(p, (*Server).rename)
}

func (s *Server) copyFile(_ *http.Request, p url.Values) (map[string]any, error) {
	return s.toDest(p, (*Server).copy)
}

// toDest resolves the file and the target that renamefile and copyfile
// name, and applies op to them under mu.
func (s *Server) toDest(p url.Values, op func(s *Server, p url.Values, n, dst *node, name string) (map[string]any, error)) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	dst, name, err := s.destArg(p, n.name)
	if err != nil {
		return nil, err
	}
	return op(s, p, n, dst, name)
}

// rename moves file n to name in dst (renamefile).
func (s *Server) rename(_ url.Values, n, dst *node, name string) (map[string]any, error) {
	if !validName(name) {
		return nil, errInvalidName
	}
	if dst == n.parent && name == n.name {
		return map[string]any{"metadata": n.metadata()}, nil
	}
	now := time.Now()
	if old, ok := dst.children[name]; ok {
		if old.isFolder {
			return nil, errExists
		}
		s.removeFile(old, now) // renamefile replaces an existing target
	}
	s.detachFile(n, now)
	n.parent, n.name = dst, name
	n.visibleFrom = now.Add(s.opt.ListLag) // a new name in the target listing
	dst.children[name] = n
	s.recordEvent("modifyfile", n, now)
	return map[string]any{"metadata": n.metadata()}, nil
}

// copy copies file n to name in dst (copyfile).
func (s *Server) copy(p url.Values, n, dst *node, name string) (map[string]any, error) {
	mtime, hasM := unixParam(p, "mtime")
	ctime, hasC := unixParam(p, "ctime")
	if dst == n.parent && name == n.name {
		// rclone's SetModTime copies a file onto itself with a new mtime.
		if hasM {
			n.modified = mtime
		}
		if hasC {
			n.created = ctime
		}
		s.recordEvent("modifyfile", n, time.Now())
		return map[string]any{"metadata": n.metadata()}, nil
	}
	if old, ok := dst.children[name]; ok && !old.isFolder && isTrue(p.Get("noover")) {
		return nil, errExists
	}
	if !hasM {
		mtime = n.modified
	}
	c, err := s.putFile(dst, name, n.data, n.contentType, mtime, ctime, time.Now())
	if err != nil {
		return nil, err
	}
	return map[string]any{"metadata": c.metadata()}, nil
}

// refusesFresh tells whether an operation (what) on n is refused because
// n is younger than the fresh window and the option on says so, as
// pCloud refuses some operations on new files; it counts the refusal.
// Called with s.mu held.
func (s *Server) refusesFresh(on bool, n *node, now time.Time, refusals *int64, what string) bool {
	if !on || now.Sub(n.writtenAt) >= s.freshWindow() {
		return false
	}
	*refusals++
	s.opt.Logger.Info("pcloudemu: refused "+what+" of fresh file", "path", n.path())
	return true
}
