package pcloudemu

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// apiError is a pCloud result code with its message. pCloud answers errors
// with HTTP 200 and a non-zero "result", which is what rclone expects.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return fmt.Sprintf("pcloud %d: %s", e.code, e.msg) }

// Result codes from https://docs.pcloud.com/errors/ (messages as pCloud
// words them, typo included), plus a few of ours marked below.
var (
	errLoginRequired = &apiError{1000, "Log in required."}
	errNoFolderArg   = &apiError{1002, "No full path or folderid provided."}
	errNoFileArg     = &apiError{1004, "No fileid or path provided."}
	errLoginFailed   = &apiError{2000, "Log in failed."}
	errInvalidName   = &apiError{2001, "Invalid file/folder name."}
	errAccessDenied  = &apiError{2003, "Access denied. You do not have permissions to perform this operation."}
	errExists        = &apiError{2004, "File or folder alredy exists."}
	errNoFolder      = &apiError{2005, "Directory does not exist."}
	errNotEmpty      = &apiError{2006, "Folder is not empty."}
	errDeleteRoot    = &apiError{2007, "Cannot delete the root folder."}
	errOverQuota     = &apiError{2008, "User is over quota."}
	errNoFile        = &apiError{2009, "File not found."}
	errMoveIntoSelf  = &apiError{2043, "Cannot move a folder into itself or one of its subfolders."} // code ours
	errRecursiveRoot = &apiError{1101, "Recursive listing of the root folder is not allowed."}       // message ours, see rclone#9315
	errRateLimit     = &apiError{4000, "Too many login tries from this IP address."}
	errInternal      = &apiError{5000, "Internal error. Try again later."}
)

type handler func(s *Server, r *http.Request, p url.Values) (map[string]any, error)

var methods = map[string]handler{
	"listfolder":              (*Server).listFolder,
	"createfolder":            (*Server).createFolder,
	"createfolderifnotexists": (*Server).createFolderIfNotExists,
	"deletefolder":            (*Server).deleteFolder,
	"deletefolderrecursive":   (*Server).deleteFolderRecursive,
	"renamefolder":            (*Server).renameFolder,
	"uploadfile":              (*Server).uploadFile,
	"deletefile":              (*Server).deleteFile,
	"getfilelink":             (*Server).getFileLink,
	"checksumfile":            (*Server).checksumFile,
	"stat":                    (*Server).stat,
	"renamefile":              (*Server).renameFile,
	"copyfile":                (*Server).copyFile,
	"userinfo":                (*Server).userInfo,
	"diff":                    (*Server).diff,
	"getfilepublink":          (*Server).getFilePubLink,
	"getfolderpublink":        (*Server).getFolderPubLink,
}

// ServeHTTP answers API methods at /<method> and downloads at /dl/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/dl/") {
		s.download(w, r)
		return
	}
	method := strings.Trim(r.URL.Path, "/")
	h, known := methods[method]

	s.mu.Lock()
	if known {
		s.stats.Calls[method]++
	} else {
		s.stats.Calls["unknown"]++
	}
	latency, log := s.opt.Latency, s.opt.Logger
	s.mu.Unlock()
	log.Debug("pcloudemu: request", "method", r.Method, "api", method, "query", r.URL.RawQuery)

	if !sleep(r, latency) {
		return
	}
	if !known {
		// Not a pCloud code: a method the emulator does not implement.
		writeResult(w, nil, &apiError{1, "Unknown method " + strconv.Quote(method) + " (not emulated)."})
		return
	}

	var p url.Values
	if method == "uploadfile" {
		p = r.URL.Query() // the body is the file (raw or multipart), not a form
	} else {
		if err := r.ParseForm(); err != nil {
			writeResult(w, nil, &apiError{2000, "bad request: " + err.Error()})
			return
		}
		p = r.Form
	}
	if err := s.checkAuth(r, p); err != nil {
		drain(r)
		writeResult(w, nil, err)
		return
	}
	if err := s.injectError(method); err != nil {
		log.Info("pcloudemu: injected error", "api", method, "result", err.code)
		drain(r)
		writeResult(w, nil, err)
		return
	}
	res, err := h(s, r, p)
	if err != nil {
		log.Debug("pcloudemu: answer", "api", method, "err", err)
	}
	writeResult(w, res, err)
}

// sleep waits d or until the client goes away; false if it went away.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// drain reads the rest of an upload we are refusing, so the client receives
// our JSON answer instead of a reset connection mid-write.
func drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<30))
}

func writeResult(w http.ResponseWriter, res map[string]any, err error) {
	if res == nil {
		res = map[string]any{}
	}
	var ae *apiError
	switch {
	case err == nil:
		res["result"] = 0
	case errors.As(err, &ae):
		res = map[string]any{"result": ae.code, "error": ae.msg}
	default:
		res = map[string]any{"result": errInternal.code, "error": err.Error()}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(res)
}

func (s *Server) checkAuth(r *http.Request, p url.Values) *apiError {
	tok := ""
	if a := r.Header.Get("Authorization"); a != "" {
		tok = strings.TrimSpace(strings.TrimPrefix(a, "Bearer "))
	} else if v := p.Get("access_token"); v != "" {
		tok = v
	} else {
		tok = p.Get("auth")
	}
	if tok == "" {
		return errLoginRequired
	}
	if tok != s.token {
		return errLoginFailed
	}
	return nil
}

// injectError decides, from the seeded generator, whether this call fails.
func (s *Server) injectError(method string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opt.ErrorRate <= 0 || s.rng.Float64() >= s.opt.ErrorRate {
		return nil
	}
	s.stats.InjectedErrors++
	if s.rng.IntN(2) == 0 {
		return errRateLimit
	}
	return errInternal
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "n":
		return false
	}
	return true
}

// ---- addressing (s.mu held) ----

func (s *Server) lookupPath(p string) (*node, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, errNoFolder
	}
	n := s.root
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		if !n.isFolder {
			return nil, errNoFolder
		}
		c, ok := n.children[part]
		if !ok {
			return nil, errNoFile
		}
		n = c
	}
	return n, nil
}

// folderArg resolves a folder from idKey (a number) or pathKey.
func (s *Server) folderArg(p url.Values, idKey, pathKey string) (*node, error) {
	if v := p.Get(idKey); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, errNoFolder
		}
		f, ok := s.folders[id]
		if !ok {
			return nil, errNoFolder
		}
		return f, nil
	}
	if v := p.Get(pathKey); v != "" {
		n, err := s.lookupPath(v)
		if err != nil || !n.isFolder {
			return nil, errNoFolder
		}
		return n, nil
	}
	return nil, errNoFolderArg
}

// fileArg resolves a file from fileid or path.
func (s *Server) fileArg(p url.Values) (*node, error) {
	if v := p.Get("fileid"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, errNoFile
		}
		f, ok := s.files[id]
		if !ok {
			return nil, errNoFile
		}
		return f, nil
	}
	if v := p.Get("path"); v != "" {
		n, err := s.lookupPath(v)
		if errors.Is(err, errNoFolder) {
			return nil, errNoFolder
		}
		if err != nil || n.isFolder {
			return nil, errNoFile
		}
		return n, nil
	}
	return nil, errNoFileArg
}

// destArg resolves the target of copyfile/renamefile/renamefolder:
// tofolderid (+ toname), or topath (a folder if it ends in "/").
func (s *Server) destArg(p url.Values, defName string) (*node, string, error) {
	if v := p.Get("tofolderid"); v != "" {
		f, err := s.folderArg(p, "tofolderid", "")
		if err != nil {
			return nil, "", err
		}
		name := p.Get("toname")
		if name == "" {
			name = defName
		}
		return f, name, nil
	}
	if v := p.Get("topath"); v != "" {
		dir, name := v, defName
		if !strings.HasSuffix(v, "/") {
			dir, name = path.Dir(v), path.Base(v)
		}
		f, err := s.lookupPath(dir)
		if err != nil || !f.isFolder {
			return nil, "", errNoFolder
		}
		return f, name, nil
	}
	return nil, "", errNoFolderArg
}

func unixParam(p url.Values, key string) (time.Time, bool) {
	v, err := strconv.ParseInt(p.Get(key), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(v, 0), true
}

// ---- state changes (s.mu held) ----

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
	md := n.metadata()
	md["isdeleted"] = true
	s.recordEventMeta("deletefile", md, now)
}

// ---- methods ----

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

func (s *Server) deleteFolder(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folderArg(p, "folderid", "path")
	if err != nil {
		return nil, err
	}
	if f == s.root {
		return nil, errDeleteRoot
	}
	if len(f.children) > 0 {
		return nil, errNotEmpty
	}
	delete(f.parent.children, f.name)
	delete(s.folders, f.id)
	md := f.metadata()
	md["isdeleted"] = true
	s.recordEventMeta("deletefolder", md, time.Now())
	return map[string]any{"metadata": md}, nil
}

func (s *Server) deleteFolderRecursive(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folderArg(p, "folderid", "path")
	if err != nil {
		return nil, err
	}
	if f == s.root {
		return nil, errDeleteRoot
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
			md := c.metadata()
			md["isdeleted"] = true
			s.recordEventMeta("deletefile", md, now)
		}
		delete(s.folders, d.id)
		folders++
		md := d.metadata()
		md["isdeleted"] = true
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
	if s.opt.FreshDeleteFails && now.Sub(n.writtenAt) < s.freshWindow() {
		s.stats.FreshDeleteRefusals++
		s.opt.Logger.Info("pcloudemu: refused delete of fresh file", "path", n.path())
		return nil, errNoFile
	}
	s.removeFile(n, now)
	md := n.metadata()
	md["isdeleted"] = true
	return map[string]any{"metadata": md}, nil
}

func (s *Server) getFileLink(_ *http.Request, p url.Values) (map[string]any, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("link tag: %w", err)
	}
	tag := hex.EncodeToString(raw[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if s.opt.FreshLinkFails && now.Sub(n.writtenAt) < s.freshWindow() {
		s.stats.FreshLinkRefusals++
		s.opt.Logger.Info("pcloudemu: refused link for fresh file", "path", n.path())
		return nil, errNoFile
	}
	for k, l := range s.links {
		if now.After(l.expires) {
			delete(s.links, k)
		}
	}
	// The link serves the revision it was issued for, like a link to pCloud's
	// content servers; a later overwrite or delete does not change it.
	l := &link{data: n.data, name: n.name, contentType: n.contentType, modified: n.modified, expires: now.Add(s.opt.LinkTTL)}
	s.links[tag] = l
	return map[string]any{
		"path":    "/dl/" + tag + "/" + url.PathEscape(n.name),
		"hosts":   []string{s.Hostname()},
		"expires": l.expires.UTC().Format(pcloudTime),
		"dwltag":  tag,
		"hash":    n.hash,
		"size":    int64(len(n.data)),
	}, nil
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Calls["download"]++
	latency := s.opt.Latency
	s.mu.Unlock()
	if !sleep(r, latency) {
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/dl/")
	tag, _, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	l, ok := s.links[tag]
	s.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, "link not found", http.StatusNotFound)
		return
	case time.Now().After(l.expires):
		http.Error(w, "link expired", http.StatusGone)
		return
	}
	w.Header().Set("Content-Type", l.contentType)
	http.ServeContent(w, r, l.name, l.modified, bytes.NewReader(l.data))
}

func (s *Server) checksumFile(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	res := s.checksums(n)
	res["metadata"] = n.metadata()
	return res, nil
}

func (s *Server) stat(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Get("folderid") != "" {
		f, err := s.folderArg(p, "folderid", "")
		if err != nil {
			return nil, err
		}
		return map[string]any{"metadata": f.metadata()}, nil
	}
	if v := p.Get("path"); v != "" && p.Get("fileid") == "" {
		n, err := s.lookupPath(v)
		if err != nil {
			return nil, err
		}
		return map[string]any{"metadata": n.metadata()}, nil
	}
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"metadata": n.metadata()}, nil
}

func (s *Server) renameFile(_ *http.Request, p url.Values) (map[string]any, error) {
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

func (s *Server) copyFile(_ *http.Request, p url.Values) (map[string]any, error) {
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

func (s *Server) userInfo(_ *http.Request, _ url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{
		"email":         "emulator@pcloudemu.invalid",
		"emailverified": true,
		"userid":        1,
		"quota":         s.opt.Quota,
		"usedquota":     s.usedBytes,
		"premium":       true,
		"plan":          1,
		"language":      "en",
		"registered":    s.root.created.UTC().Format(pcloudTime),
	}, nil
}
