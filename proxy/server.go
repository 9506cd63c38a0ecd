// Package proxy serves the restic REST protocol (v1 and v2) over a
// overlay.Store, refusing what the options forbid before the store sees it
// (unauthenticated users, other users' repositories, removals under
// append-only, bad paths, uploads past the quota), and routes the service
// paths beside it (/healthz, /readyz, /metrics, /status).
package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/overlay"
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
	// UserHeader names the header in which a trusted proxy in front
	// (Authelia, oauth2-proxy) names the user; empty: off.
	UserHeader string
	// TrustedProxies are the peers whose UserHeader is believed; empty:
	// loopback only (a unix-socket peer counts as loopback).
	TrustedProxies []netip.Prefix
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
	// Name is the object's name, for repository health (health/); never a
	// metric label. Listing is a successful listing's entries, shared:
	// read it, do not keep or change it.
	Name    string
	Listing []overlay.Entry
}

// Server is an http.Handler for the restic REST protocol.
type Server struct {
	store    *overlay.Store
	opt      Options
	log      *slog.Logger
	maxDepth int
	serve    func(*request) // routeRequest behind the auth middleware
}

// New returns a Server over store.
func New(store *overlay.Store, opt Options) (*Server, error) {
	if store == nil {
		return nil, errors.New("proxy: nil store")
	}
	if opt.PrivateRepos && opt.Auth == nil && opt.UserHeader == "" {
		return nil, errors.New("proxy: private repositories need authentication (users, or a header user from a trusted proxy)")
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
	s.serve = s.requireUser(s.routeRequest)
	return s, nil
}

// request carries per-request state through the handlers.
type request struct {
	w       *countingWriter
	r       *http.Request
	body    *countingReader // nil when the request has no body
	user    string          // set by requireUser
	rt      route           // set by routeRequest once the path is parsed and authorised
	listing []overlay.Entry // set by list on success
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cw, body, finish := instrument(w, r, s.opt.IdleBodyTimeout)
	defer finish()
	rq := &request{w: cw, r: r, body: body}
	defer s.record(rq, start)
	s.serve(rq)
}

// record logs a finished request and hands it to the Observer.
func (s *Server) record(rq *request, start time.Time) {
	r := rq.r
	info := RequestInfo{
		Method: r.Method, Status: rq.w.status(), Duration: time.Since(start),
		BytesOut: rq.w.n, User: rq.user, Name: rq.rt.name, Listing: rq.listing,
	}
	info.Repo, info.Type, info.List = labels(rq.rt)
	if rq.body != nil {
		info.BytesIn = rq.body.n.Load()
	}
	s.log.Info("request",
		"method", r.Method, "path", r.URL.EscapedPath(), "status", info.Status,
		"bytes_in", info.BytesIn, "bytes_out", info.BytesOut,
		"duration", info.Duration, "remote", r.RemoteAddr, "user", rq.user)
	if s.opt.Observer != nil {
		s.opt.Observer(info)
	}
}

// labels are the metric labels of a route. A request refused before it
// was routed has the zero route, which has none.
func labels(rt route) (repo, typ string, list bool) {
	if rt.kind == kindConfig || rt.kind == kindDir || rt.kind == kindObject {
		typ = string(rt.typ)
	}
	return rt.repoPath(), typ, rt.kind == kindDir
}

// routeRequest applies the path rules and the authorisation rule, then
// dispatches.
func (s *Server) routeRequest(rq *request) {
	rt, err := parsePath(rq.r.URL.EscapedPath(), rq.r.URL.Path, s.maxDepth)
	if err != nil {
		s.fail(rq, pathErrorStatus(rq.r.Method, err), err)
		return
	}
	if !s.mayReach(rq.user, rt) {
		// rest-server answers 401 when a user reaches into another user's
		// repositories, so that a client retries with other credentials.
		rq.w.Header().Set("WWW-Authenticate", authChallenge)
		s.fail(rq, http.StatusUnauthorized, nil)
		return
	}
	rq.rt = rt
	s.dispatch(rq)
}

// dispatch calls the handler for the route and the method.
func (s *Server) dispatch(rq *request) {
	method := rq.r.Method
	switch rq.rt.kind {
	case kindRepo:
		if method == http.MethodPost && rq.r.URL.Query().Get("create") == "true" {
			s.createRepo(rq)
			return
		}
	case kindConfig, kindObject:
		switch method {
		case http.MethodHead:
			s.head(rq)
		case http.MethodGet:
			s.get(rq)
		case http.MethodPost:
			s.post(rq)
		case http.MethodDelete:
			s.delete(rq)
		default:
			s.fail(rq, http.StatusMethodNotAllowed, nil)
		}
		return
	case kindDir:
		if method == http.MethodGet {
			s.list(rq)
			return
		}
	}
	s.fail(rq, badRouteStatus(method), nil)
}

func (rq *request) handle() overlay.Handle {
	return overlay.Handle{Repo: rq.rt.repoPath(), Type: rq.rt.typ, Name: rq.rt.name}
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
	if rq.body != nil && rq.r.ProtoMajor == 1 && !rq.body.complete(rq.r.ContentLength) {
		rq.body.abandon(rq.w, rq.r) // refused with the body (or some of it) unread
	}
	msg := fmt.Sprintf("%d %s\n", status, strings.ToLower(http.StatusText(status)))
	// Reasons a client can act on are told; others stay in the log.
	for _, reason := range []error{errReservedRepo, errRepoName, errLockTooLarge, overlay.ErrOverlayUnavailable} {
		if errors.Is(err, reason) {
			msg = fmt.Sprintf("%d %s: %v\n", status, strings.ToLower(http.StatusText(status)), reason)
		}
	}
	rq.w.WriteHeader(status)
	if rq.r.Method != http.MethodHead {
		_, _ = rq.w.Write([]byte(msg))
	}
}

// statusFor maps a store error to an HTTP status.
func statusFor(err error) int {
	switch {
	case errors.Is(err, overlay.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, overlay.ErrExists):
		return http.StatusForbidden
	case errors.Is(err, overlay.ErrHashMismatch), errors.Is(err, overlay.ErrSizeMismatch), errors.Is(err, overlay.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, overlay.ErrInsufficientStorage):
		// 507, as rest-server answers a full disk; restic gives up at once.
		return http.StatusInsufficientStorage
	case errors.Is(err, overlay.ErrPermissionDenied), errors.Is(err, overlay.ErrPermanent):
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
	var re *overlay.RemoteError
	return errors.As(err, &re)
}
