package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/steadyrest/steadyrest/overlay"
)

// defaultMaxRepoDepth bounds repository paths when Options.MaxRepoDepth is 0.
const defaultMaxRepoDepth = 8

// kind says what a request path names.
type kind int

const (
	kindRepo   kind = iota // the repository itself: /{repo}/
	kindConfig             // /{repo}/config
	kindDir                // /{repo}/{type}/
	kindObject             // /{repo}/{type}/{name}
	kindBad                // a well-formed path the protocol has no route for
)

// route is a parsed request path.
type route struct {
	kind kind
	repo []string     // repository folders; empty for a repository at the root
	typ  overlay.Type // for kindConfig, kindDir, kindObject
	name string       // for kindObject
}

func (r route) repoPath() string { return strings.Join(r.repo, "/") }

// errBadPath is a path that is dangerous or malformed: it is answered with
// 400 and never reaches the store.
var errBadPath = errors.New("malformed path")

// errReservedRepo is a repository path through the folder where
// steadyrest keeps its own objects (instance heartbeats): a 400 whose
// reason reaches the client, since a user can pick the name by chance.
var errReservedRepo = errors.New("the folder name " + overlay.ReservedDir + " is reserved for steadyrest's own files; choose another repository path")

// errRepoName is a repository folder name outside overlay.ValidRepoSegment's
// set: a 400 whose reason reaches the client, since names that once
// worked (with a space, or non-ASCII letters) are refused now.
var errRepoName = fmt.Errorf("%w: a repository folder name may hold only ASCII letters, digits and - _ . @ +, may not begin or end with '.', and may not be a restic type name", errBadPath)

// errTooDeep is a repository path with more folders than allowed.
var errTooDeep = errors.New("repository path too deep")

// checkRawPath rejects escaped paths that could smuggle a separator or a
// traversal past the decoded-segment checks. Go decodes %2f into "/" in
// URL.Path, and a double-encoded "%252e" would decode to "%2e" in a name
// that some other layer might decode again; neither has a use in the
// protocol, so both are refused outright.
func checkRawPath(raw string) error {
	if !strings.HasPrefix(raw, "/") {
		return errBadPath
	}
	if strings.ContainsAny(raw, "\\\x00") {
		return errBadPath
	}
	lower := strings.ToLower(raw)
	for _, bad := range []string{"%2f", "%5c", "%00", "%25"} {
		if strings.Contains(lower, bad) {
			return errBadPath
		}
	}
	return nil
}

// parsePath splits a request path into a route. raw is the escaped path
// (URL.EscapedPath), decoded is URL.Path. maxDepth is the largest number of
// repository folders allowed.
func parsePath(raw, decoded string, maxDepth int) (route, error) {
	if err := checkRawPath(raw); err != nil {
		return route{}, err
	}
	// Bytes that are no UTF-8 (an overlong %c0%ae for ".") name nothing
	// any client means, wherever they stand.
	if !strings.HasPrefix(decoded, "/") || strings.ContainsAny(decoded, "\\\x00") || !utf8.ValidString(decoded) {
		return route{}, errBadPath
	}
	p := decoded[1:]
	trailing := strings.HasSuffix(p, "/")
	if trailing {
		p = p[:len(p)-1]
	}
	var segs []string
	if p != "" {
		segs = strings.Split(p, "/")
	} else if trailing {
		return route{}, errBadPath // "//"
	}
	// Every segment, not only repository folders, must be clean: an empty,
	// "." or ".." segment is a traversal attempt or a client bug.
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return route{}, errBadPath
		}
	}

	i := 0
	for i < len(segs) {
		if _, isType := overlay.ParseType(segs[i]); isType {
			break
		}
		i++
	}
	repo, rest := segs[:i], segs[i:]
	for _, s := range repo {
		if s == overlay.ReservedDir {
			return route{}, errReservedRepo
		}
		// The store's own rule, so that no name passes here that it
		// would refuse, nor one rclone's encoding would turn into
		// another folder.
		if !overlay.ValidRepoSegment(s) {
			return route{}, errRepoName
		}
	}
	if len(repo) > maxDepth {
		return route{}, errTooDeep
	}
	rt := route{repo: repo}
	if len(rest) == 0 {
		rt.kind = kindRepo
		return rt, nil
	}
	rt.typ, _ = overlay.ParseType(rest[0])
	switch {
	case rt.typ == overlay.Config && len(rest) == 1 && !trailing:
		rt.kind = kindConfig
	case rt.typ == overlay.Config:
		rt.kind = kindBad // "config/" is not a folder
	case len(rest) == 1:
		rt.kind = kindDir
	case len(rest) == 2 && !trailing && overlay.IsHexID(rest[1]):
		rt.kind = kindObject
		rt.name = rest[1]
	default:
		rt.kind = kindBad
	}
	return rt, nil
}

// pathErrorStatus is the status for a path parsePath refused: a read of
// a repository nested deeper than allowed is "not found" (it cannot
// exist), anything else a bad request.
func pathErrorStatus(method string, err error) int {
	if errors.Is(err, errTooDeep) && (method == http.MethodGet || method == http.MethodHead) {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// badRouteStatus is the status for a request with no route: reads and
// deletes of something that cannot exist are "not found", writes are bad
// requests (as rest-server answers).
func badRouteStatus(method string) int {
	if method == http.MethodPost {
		return http.StatusBadRequest
	}
	return http.StatusNotFound
}
