package pcloudemu

// The folder methods: listings, creation, deletion and renames.

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

func (s *Server) listFolder(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folderArg(p, "folderid", "path")
	if err != nil {
		return nil, err
	}
	recursive := isTrue(p.Get("recursive"))
	if recursive && f == s.root {
		// pCloud refuses this; rclone lists the root's subfolders one by one.
		return nil, errRecursiveRoot
	}
	return map[string]any{"metadata": f.listing(time.Now(), recursive, isTrue(p.Get("nofiles")))}, nil
}

// newFolderTarget resolves folderid+name or a full path for createfolder.
func (s *Server) newFolderTarget(p url.Values) (*node, string, error) {
	if p.Get("folderid") != "" {
		parent, err := s.folderArg(p, "folderid", "")
		return parent, p.Get("name"), err
	}
	if v := p.Get("path"); v != "" {
		parent, err := s.lookupPath(path.Dir(strings.TrimSuffix(v, "/")))
		if err != nil || !parent.isFolder {
			return nil, "", errNoFolder
		}
		return parent, path.Base(v), nil
	}
	return nil, "", errNoFolderArg
}

func (s *Server) mkdir(p url.Values, ifNotExists bool) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parent, name, err := s.newFolderTarget(p)
	if err != nil {
		return nil, err
	}
	if !validName(name) {
		return nil, errInvalidName
	}
	if old, ok := parent.children[name]; ok {
		if ifNotExists && old.isFolder {
			return map[string]any{"created": false, "metadata": old.metadata()}, nil
		}
		return nil, errExists
	}
	f := newFolder(s.nextDir, name, parent, time.Now())
	s.nextDir++
	parent.children[name] = f
	s.folders[f.id] = f
	s.recordEvent("createfolder", f, time.Now())
	res := map[string]any{"metadata": f.metadata()}
	if ifNotExists {
		res["created"] = true
	}
	return res, nil
}

func (s *Server) createFolder(_ *http.Request, p url.Values) (map[string]any, error) {
	return s.mkdir(p, false)
}

func (s *Server) createFolderIfNotExists(_ *http.Request, p url.Values) (map[string]any, error) {
	return s.mkdir(p, true)
}

// folderToDelete is the folder p names for a delete: never the root.
// Called with s.mu held.
func (s *Server) folderToDelete(p url.Values) (*node, error) {
	f, err := s.folderArg(p, "folderid", "path")
	if err != nil {
		return nil, err
	}
	if f == s.root {
		return nil, errDeleteRoot
	}
	return f, nil
}

func (s *Server) deleteFolder(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folderToDelete(p)
	if err != nil {
		return nil, err
	}
	if len(f.children) > 0 {
		return nil, errNotEmpty
	}
	delete(f.parent.children, f.name)
	delete(s.folders, f.id)
	md := f.deletedMetadata()
	s.recordEventMeta("deletefolder", md, time.Now())
	return map[string]any{"metadata": md}, nil
}

func (s *Server) deleteFolderRecursive(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folderToDelete(p)
	if err != nil {
		return nil, err
	}
	var files, folders int
	now := time.Now()
	var walk func(d *node)
	walk = func(d *node) {
		for _, c := range d.children {
			if c.isFolder {
				walk(c)
				continue
			}
			delete(s.files, c.id)
			s.usedBytes -= int64(len(c.data))
			files++
			md := c.deletedMetadata()
			s.recordEventMeta("deletefile", md, now)
		}
		delete(s.folders, d.id)
		folders++
		md := d.deletedMetadata()
		s.recordEventMeta("deletefolder", md, now)
	}
	walk(f)
	delete(f.parent.children, f.name)
	return map[string]any{"deletedfiles": files, "deletedfolders": folders}, nil
}

func (s *Server) renameFolder(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folderArg(p, "folderid", "path")
	if err != nil {
		return nil, err
	}
	if f == s.root {
		return nil, errAccessDenied
	}
	dst, name, err := s.destArg(p, f.name)
	if err != nil {
		return nil, err
	}
	if !validName(name) {
		return nil, errInvalidName
	}
	if dst.isUnder(f) {
		return nil, errMoveIntoSelf
	}
	if old, ok := dst.children[name]; ok && old != f {
		return nil, errExists
	}
	delete(f.parent.children, f.name)
	f.parent, f.name = dst, name
	dst.children[name] = f
	s.recordEvent("modifyfolder", f, time.Now())
	return map[string]any{"metadata": f.metadata()}, nil
}

type upload struct {
	name  string
	data  []byte
	ctype string
}
