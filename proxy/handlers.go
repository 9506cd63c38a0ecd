package proxy

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/steadyrest/steadyrest/overlay"
)

// Content types of the two listing formats.
const (
	contentTypeV1 = "application/vnd.x.restic.rest.v1"
	contentTypeV2 = "application/vnd.x.restic.rest.v2"
)

// maxLockSize bounds a lock upload. restic's locks are JSON under 1 KiB;
// a lock is the one object an append-only client may delete, so a large
// one would be a way to store data that can be removed again.
const maxLockSize = 64 << 10

// errLockTooLarge is a lock over maxLockSize: a 413 whose reason reaches
// the client.
var errLockTooLarge = errors.New("a lock may be at most 64 KiB (restic's are under 1 KiB)")

func (s *Server) createRepo(rq *request) {
	repo := rq.rt.repoPath()
	if err := s.store.CreateRepo(rq.r.Context(), repo); err != nil {
		s.fail(rq, statusFor(err), fmt.Errorf("create repository %q: %w", repo, err))
		return
	}
	s.log.Info("repository created", "repo", "/"+repo, "user", rq.user)
	rq.w.WriteHeader(http.StatusOK)
}

func (s *Server) head(rq *request) {
	h := rq.handle()
	obj, err := s.store.Lookup(rq.r.Context(), h)
	if err != nil {
		s.fail(rq, statusFor(err), fmt.Errorf("stat %s: %w", h, err))
		return
	}
	hdr := rq.w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Accept-Ranges", "bytes")
	if size := obj.Size(); size >= 0 {
		hdr.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	rq.w.WriteHeader(http.StatusOK)
}

func (s *Server) get(rq *request) {
	ctx := rq.r.Context()
	h := rq.handle()
	// A malformed Range is refused before the lookup, so that garbage
	// headers cost no remote call; only satisfiability needs the size.
	if rh := rq.r.Header.Get("Range"); rh != "" {
		if _, _, err := parseRange(rh, math.MaxInt64); errors.Is(err, errRangeMalformed) {
			s.fail(rq, http.StatusBadRequest, fmt.Errorf("%w: %q", err, rh))
			return
		}
	}
	obj, err := s.store.Lookup(ctx, h)
	if err != nil {
		s.fail(rq, statusFor(err), fmt.Errorf("look up %s: %w", h, err))
		return
	}
	size := obj.Size()
	hdr := rq.w.Header()
	hdr.Set("Accept-Ranges", "bytes")

	off, length, status := int64(0), int64(-1), http.StatusOK
	if rh := rq.r.Header.Get("Range"); rh != "" {
		if size < 0 {
			// Without a size there is no way to check or answer a range.
			s.fail(rq, http.StatusInternalServerError, fmt.Errorf("range read of %s: remote reports no size", h))
			return
		}
		off, length, err = parseRange(rh, size)
		switch {
		case errors.Is(err, errRangeUnsatisfiable):
			hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			s.fail(rq, http.StatusRequestedRangeNotSatisfiable, err)
			return
		case err != nil:
			s.fail(rq, http.StatusBadRequest, fmt.Errorf("%w: %q", err, rh))
			return
		}
		status = http.StatusPartialContent
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, size))
	} else if size >= 0 {
		length = size
	}

	// A full read asks for "to the end" so that the store needs no range.
	openLen := length
	if status == http.StatusOK {
		openLen = -1
	}
	rc, err := obj.Open(ctx, off, openLen)
	if err != nil {
		s.fail(rq, statusFor(err), fmt.Errorf("open %s: %w", h, err))
		return
	}
	defer rc.Close()

	hdr.Set("Content-Type", "application/octet-stream")
	if length >= 0 {
		hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	}
	rq.w.WriteHeader(status)
	n, err := io.Copy(rq.w, rc)
	if err == nil && length >= 0 && n != length {
		err = fmt.Errorf("remote returned %d of %d bytes", n, length)
	}
	if err != nil {
		// The status is gone; a short body (less than Content-Length) makes
		// the client see the failure.
		s.log.Warn("download failed midway", "object", h.String(), "sent", n, "err", err)
	}
}

func (s *Server) post(rq *request) {
	r := rq.r
	h := rq.handle()
	if r.ContentLength < 0 {
		// The store confirms the write against the declared size.
		s.fail(rq, http.StatusLengthRequired, nil)
		return
	}
	if s.opt.MaxSize > 0 && r.ContentLength > s.opt.MaxSize {
		s.fail(rq, http.StatusRequestEntityTooLarge,
			fmt.Errorf("upload of %d bytes exceeds the %d byte limit", r.ContentLength, s.opt.MaxSize))
		return
	}
	if h.Type == overlay.Locks && r.ContentLength > maxLockSize {
		s.fail(rq, http.StatusRequestEntityTooLarge, fmt.Errorf("lock of %d bytes: %w", r.ContentLength, errLockTooLarge))
		return
	}
	if !s.quotaReserve(rq) {
		return
	}
	opt := overlay.PutOptions{NoOverwrite: s.opt.AppendOnly}
	if h.Type != overlay.Config && !s.opt.NoVerifyUpload {
		sum, err := hex.DecodeString(h.Name)
		if err != nil { // unreachable: parsePath checked the name
			s.opt.Quota.release(r.ContentLength)
			s.fail(rq, http.StatusBadRequest, fmt.Errorf("decode name: %w", err))
			return
		}
		opt.SHA256 = sum
	}
	var body io.Reader = http.NoBody
	if rq.body != nil {
		body = rq.body
	}
	err := s.store.Put(r.Context(), h, body, r.ContentLength, opt)
	s.opt.Quota.release(r.ContentLength) // the store counts what it stored
	if err != nil {
		status := statusFor(err)
		if rq.body != nil && rq.body.readErr() != nil {
			// The client broke the upload; it is not the store's fault.
			status = http.StatusBadRequest
		}
		s.fail(rq, status, fmt.Errorf("save %s: %w", h, err))
		return
	}
	rq.w.WriteHeader(http.StatusOK)
}

func (s *Server) delete(rq *request) {
	h := rq.handle()
	if s.opt.AppendOnly && h.Type != overlay.Locks {
		s.fail(rq, http.StatusForbidden, nil)
		return
	}
	if err := s.store.Remove(rq.r.Context(), h); err != nil {
		s.fail(rq, statusFor(err), fmt.Errorf("delete %s: %w", h, err))
		return
	}
	rq.w.WriteHeader(http.StatusOK)
}

func (s *Server) list(rq *request) {
	repo := rq.rt.repoPath()
	entries, err := s.store.List(rq.r.Context(), repo, rq.rt.typ)
	if err != nil {
		// Never an empty list on failure: restic would take it as truth,
		// and prune would delete what it cannot see referenced.
		status := statusFor(err)
		if status == http.StatusNotFound {
			status = http.StatusInternalServerError
		}
		s.fail(rq, status, fmt.Errorf("list /%s/%s: %w", repo, rq.rt.typ, err))
		return
	}
	rq.listing = entries
	var (
		out any
		ct  string
	)
	if strings.Contains(rq.r.Header.Get("Accept"), contentTypeV2) {
		if entries == nil {
			entries = []overlay.Entry{}
		}
		out, ct = entries, contentTypeV2
	} else {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name)
		}
		out, ct = names, contentTypeV1
	}
	buf, err := json.Marshal(out)
	if err != nil {
		s.fail(rq, http.StatusInternalServerError, fmt.Errorf("encode listing: %w", err))
		return
	}
	hdr := rq.w.Header()
	hdr.Set("Content-Type", ct)
	hdr.Set("Content-Length", strconv.Itoa(len(buf)))
	rq.w.WriteHeader(http.StatusOK)
	if _, err := rq.w.Write(buf); err != nil {
		s.log.Debug("listing not delivered", "repo", repo, "type", rq.rt.typ, "err", err)
	}
}
