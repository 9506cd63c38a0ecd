package pcloudemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
