// Package proxy serves the restic REST protocol (v1 and v2) over a
// cache.Store.
package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/steadyrest/steadyrest/cache"
)

// Options configure a Server.
type Options struct {
	AppendOnly     bool
	PrivateRepos   bool
	NoVerifyUpload bool  // skip the SHA-256-vs-name check
	MaxSize        int64 // max upload body bytes; 0 = unlimited
	MaxRepoDepth   int   // max folders in a repository path; 0 means default 8
	Auth           Authenticator
	Logger         *slog.Logger
	Observer       func(RequestInfo) // called once per finished request
	// IdleBodyTimeout cuts off a client that stops sending its upload, or
	// stops reading a download, for this long. Every read or write that
	// makes progress pushes the deadline out again, so a large pack may
	// take as long as it needs while it keeps moving. 0 disables it.
	IdleBodyTimeout time.Duration
	Quota           *Quota // rest-server's --max-size; nil: none
}

// RequestInfo describes one finished request for metrics. Repo and Type are
// empty when the path was invalid; there are no per-object fields so that
// metric labels stay bounded.
type RequestInfo struct {
	Method   string
	Repo     string
	Type     string
	Status   int
	Duration time.Duration
	BytesIn  int64
	BytesOut int64
	User     string
	List     bool // GET /{type}/: a listing, not a blob read
}

// Server is an http.Handler for the restic REST protocol.
type Server struct {
	store    *cache.Store
	opt      Options
	log      *slog.Logger
	maxDepth int
}

// New returns a Server over store.
func New(store *cache.Store, opt Options) (*Server, error) {
	if store == nil {
		return nil, errors.New("proxy: nil store")
	}
	if opt.PrivateRepos && opt.Auth == nil {
		return nil, errors.New("proxy: private repositories need authentication")
	}
	if opt.MaxSize < 0 {
		return nil, fmt.Errorf("proxy: negative max size %d", opt.MaxSize)
	}
	if opt.IdleBodyTimeout < 0 {
		return nil, fmt.Errorf("proxy: negative idle body timeout %s", opt.IdleBodyTimeout)
	}
	if opt.MaxRepoDepth < 0 {
		return nil, fmt.Errorf("proxy: negative max repository depth %d", opt.MaxRepoDepth)
	}
	s := &Server{store: store, opt: opt, log: opt.Logger, maxDepth: opt.MaxRepoDepth}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxDepth == 0 {
		s.maxDepth = defaultMaxRepoDepth
	}
	return s, nil
}

// request carries per-request state through the handlers.
type request struct {
	w    *countingWriter
	r    *http.Request
	body *countingReader
	user string
	rt   route
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cw := &countingWriter{ResponseWriter: w}
	req := &request{w: cw, r: r}
	var info RequestInfo
	if r.Body != nil {
		req.body = &countingReader{r: r.Body}
		r.Body = req.body
	}
	if s.opt.IdleBodyTimeout > 0 {
		dl := newIdleDeadline(w, s.opt.IdleBodyTimeout)
		cw.deadline = dl
		if req.body != nil && r.ContentLength != 0 {
			req.body.deadline = dl
			dl.bodyOpen.Store(true)
		}
		defer dl.finish()
	}
	defer func() {
		info.Method = r.Method
		info.Status = cw.status()
		info.Duration = time.Since(start)
		info.BytesOut = cw.n
		if req.body != nil {
			info.BytesIn = req.body.n.Load()
		}
		info.User = req.user
		s.log.Info("request",
			"method", r.Method, "path", r.URL.EscapedPath(), "status", info.Status,
			"bytes_in", info.BytesIn, "bytes_out", info.BytesOut,
			"duration", info.Duration, "remote", r.RemoteAddr, "user", req.user)
		if s.opt.Observer != nil {
			s.opt.Observer(info)
		}
	}()

	if s.opt.Auth != nil {
		user, ok := authenticate(s.opt.Auth, w, r)
		if !ok {
			s.fail(req, http.StatusUnauthorized, nil)
			return
		}
		req.user = user
	}

	rt, err := parsePath(r.URL.EscapedPath(), r.URL.Path, s.maxDepth)
	switch {
	case errors.Is(err, errTooDeep) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.fail(req, http.StatusNotFound, err)
		return
	case err != nil:
		s.fail(req, http.StatusBadRequest, err)
		return
	}
	req.rt = rt

	// rest-server answers 401 when a user reaches into another user's
	// repositories, so that a client retries with other credentials.
	if s.opt.PrivateRepos && (len(rt.repo) == 0 || rt.repo[0] != req.user) {
		w.Header().Set("WWW-Authenticate", authChallenge)
		s.fail(req, http.StatusUnauthorized, nil)
		return
	}
	info.Repo = rt.repoPath()
	if rt.kind == kindConfig || rt.kind == kindDir || rt.kind == kindObject {
		info.Type = string(rt.typ)
	}
	info.List = rt.kind == kindDir

	switch rt.kind {
	case kindRepo:
		if r.Method == http.MethodPost && r.URL.Query().Get("create") == "true" {
			s.createRepo(req)
			return
		}
		s.fail(req, badRouteStatus(r.Method), nil)
	case kindConfig, kindObject:
		switch r.Method {
		case http.MethodHead:
			s.head(req)
		case http.MethodGet:
			s.get(req)
		case http.MethodPost:
			s.post(req)
		case http.MethodDelete:
			s.delete(req)
		default:
			s.fail(req, http.StatusMethodNotAllowed, nil)
		}
	case kindDir:
		if r.Method == http.MethodGet {
			s.list(req)
			return
		}
		s.fail(req, badRouteStatus(r.Method), nil)
	default:
		s.fail(req, badRouteStatus(r.Method), nil)
	}
}

// authChallenge goes with every 401.
const authChallenge = `Basic realm="steadyrest"`

// authenticate checks r's Basic credentials against auth and returns the
// user; on failure it has set the challenge header and the caller answers
// 401.
func authenticate(auth Authenticator, w http.ResponseWriter, r *http.Request) (string, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok || !auth.Authenticate(user, pass) {
		w.Header().Set("WWW-Authenticate", authChallenge)
		return "", false
	}
	return user, true
}

// RequireAuth guards h with the same credentials as the REST API, for
// endpoints served beside it (/metrics). A nil auth lets everyone in.
func RequireAuth(auth Authenticator, h http.Handler) http.Handler {
	if auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := authenticate(auth, w, r); !ok {
			http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (rq *request) handle() cache.Handle {
	return cache.Handle{Repo: rq.rt.repoPath(), Type: rq.rt.typ, Name: rq.rt.name}
}

// fail answers status with a short text body. err, when set, is logged at
// a level that fits: server errors are warnings, client errors debug.
func (s *Server) fail(rq *request, status int, err error) {
	if err != nil {
		lvl := slog.LevelDebug
		// A client that went away (restic cancels reads it no longer
		// needs) is not a server problem.
		if status >= 500 && rq.r.Context().Err() == nil {
			lvl = slog.LevelWarn
		}
		s.log.Log(rq.r.Context(), lvl, "request failed",
			"method", rq.r.Method, "path", rq.r.URL.EscapedPath(), "status", status, "err", err)
	}
	h := rq.w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	if status != http.StatusRequestedRangeNotSatisfiable {
		h.Del("Content-Range") // a 416 carries "bytes */SIZE"
	}
	msg := fmt.Sprintf("%d %s\n", status, strings.ToLower(http.StatusText(status)))
	rq.w.WriteHeader(status)
	if rq.r.Method != http.MethodHead {
		_, _ = rq.w.Write([]byte(msg))
	}
}

// statusFor maps a store error to an HTTP status.
func statusFor(err error) int {
	switch {
	case errors.Is(err, cache.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, cache.ErrExists):
		return http.StatusForbidden
	case errors.Is(err, cache.ErrHashMismatch), errors.Is(err, cache.ErrSizeMismatch), errors.Is(err, cache.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, cache.ErrInsufficientStorage):
		// 507, as rest-server answers a full disk; restic gives up at once.
		return http.StatusInsufficientStorage
	case errors.Is(err, cache.ErrPermissionDenied), errors.Is(err, cache.ErrPermanent):
		// Not 500/502: restic 0.19 retries every 5xx for up to 15 minutes,
		// which a permission the remote refuses will never survive. restic
		// treats 403 as permanent and stops with an error at once; the
		// reason is in steadyrest's log.
		return http.StatusForbidden
	case isRemote(err):
		// A remote failure that may heal: restic retries 5xx.
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func isRemote(err error) bool {
	var re *cache.RemoteError
	return errors.As(err, &re)
}

// countingWriter records the status and the body bytes written.
type countingWriter struct {
	http.ResponseWriter
	code     int
	n        int64
	deadline *idleDeadline // nil without IdleBodyTimeout
}

func (c *countingWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	if c.deadline != nil {
		return c.writeSteps(p)
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// idleWriteStep is how much may be written per deadline extension.
// io.Copy hands over a whole in-memory object in one Write (WriterTo), and
// one extension for all of it would cut off a slow but steady reader.
const idleWriteStep = 64 << 10

func (c *countingWriter) writeSteps(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		step := p[:min(len(p), idleWriteStep)]
		c.deadline.extendWrite()
		n, err := c.ResponseWriter.Write(step)
		c.n += int64(n)
		total += n
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}

func (c *countingWriter) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// countingReader counts request body bytes and remembers a read failure
// (a client that hung up mid-upload) so it can be told from a store error.
// Some backends read the body from their own goroutine, hence the locking.
type countingReader struct {
	r        io.ReadCloser
	n        atomic.Int64
	mu       sync.Mutex
	err      error
	deadline *idleDeadline // nil without IdleBodyTimeout or body
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.deadline != nil {
		c.deadline.extendRead()
	}
	n, err := c.r.Read(p)
	if err != nil && c.deadline != nil {
		c.deadline.bodyDone(err == io.EOF)
	}
	c.n.Add(int64(n))
	if err != nil && err != io.EOF {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

func (c *countingReader) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// idleDeadline moves the connection's read and write deadlines forward as
// a body makes progress: a client that stalls for longer than d is cut
// off, however long the whole transfer takes.
type idleDeadline struct {
	rc *http.ResponseController
	d  time.Duration
	// Set once the connection says it cannot take deadlines, so that the
	// failing call is not repeated on every read.
	noRead, noWrite atomic.Bool
	bodyOpen        atomic.Bool // a request body not yet read to its end
}

func newIdleDeadline(w http.ResponseWriter, d time.Duration) *idleDeadline {
	dl := &idleDeadline{rc: http.NewResponseController(w), d: d}
	// A write deadline from an earlier request on a kept-alive connection
	// would otherwise still hold (net/http resets it only when the server
	// has a WriteTimeout); this request may legitimately run for long.
	dl.setWrite(time.Time{})
	return dl
}

// extendRead runs before every body read; it may run on a backend's
// goroutine, hence the atomics. Once the body is complete net/http starts
// a background read to notice a client hanging up (clearing the deadline);
// a deadline set after that would fire there and cancel the request while
// the store still confirms the upload, so a read after the end extends
// nothing.
func (dl *idleDeadline) extendRead() {
	if dl.bodyOpen.Load() {
		dl.setRead(time.Now().Add(dl.d))
	}
}

// bodyDone drops the read deadline once the body is complete (HTTP/2 has
// no background read to clear it).
// After a failed read (the deadline fired, the client hung up) the
// deadline stays as it is, so that net/http's drain of the rest gives up
// at once.
func (dl *idleDeadline) bodyDone(complete bool) {
	dl.bodyOpen.Store(false)
	if complete {
		dl.setRead(time.Time{})
	}
}

func (dl *idleDeadline) extendWrite() { dl.setWrite(time.Now().Add(dl.d)) }

// finish bounds the flush of what the handler left buffered, and the
// drain net/http does of a body the handler refused unread (413, 401) so
// that a stalled client cannot hold the connection there; the next request
// on the connection resets both.
func (dl *idleDeadline) finish() {
	write := dl.d
	if dl.bodyOpen.Load() {
		// The drain runs before the answer is flushed: give the answer
		// its own period after the drain's.
		dl.setRead(time.Now().Add(dl.d))
		write += dl.d
	}
	dl.setWrite(time.Now().Add(write))
}

func (dl *idleDeadline) setRead(t time.Time) {
	if !dl.noRead.Load() && dl.rc.SetReadDeadline(t) != nil {
		dl.noRead.Store(true)
	}
}

func (dl *idleDeadline) setWrite(t time.Time) {
	if !dl.noWrite.Load() && dl.rc.SetWriteDeadline(t) != nil {
		dl.noWrite.Store(true)
	}
}
