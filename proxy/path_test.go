package proxy

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/overlay"
)

var hexA = strings.Repeat("a", 64)

func TestParsePath(t *testing.T) {
	tests := []struct {
		raw, decoded string
		want         route
		err          error
	}{
		{"/", "/", route{kind: kindRepo}, nil},
		{"/?", "/", route{kind: kindRepo}, nil},
		{"/a/", "/a/", route{kind: kindRepo, repo: []string{"a"}}, nil},
		{"/a", "/a", route{kind: kindRepo, repo: []string{"a"}}, nil},
		{"/a/b/", "/a/b/", route{kind: kindRepo, repo: []string{"a", "b"}}, nil},
		{"/config", "/config", route{kind: kindConfig, typ: overlay.Config}, nil},
		{"/a/config", "/a/config", route{kind: kindConfig, repo: []string{"a"}, typ: overlay.Config}, nil},
		{"/a/b/config", "/a/b/config", route{kind: kindConfig, repo: []string{"a", "b"}, typ: overlay.Config}, nil},
		{"/a/config/", "/a/config/", route{kind: kindBad, repo: []string{"a"}, typ: overlay.Config}, nil},
		{"/data/", "/data/", route{kind: kindDir, typ: overlay.Data}, nil},
		{"/a/locks/", "/a/locks/", route{kind: kindDir, repo: []string{"a"}, typ: overlay.Locks}, nil},
		{"/a/locks", "/a/locks", route{kind: kindDir, repo: []string{"a"}, typ: overlay.Locks}, nil},
		{"/a/b/keys/" + hexA, "/a/b/keys/" + hexA, route{kind: kindObject, repo: []string{"a", "b"}, typ: overlay.Keys, name: hexA}, nil},
		{"/data/" + hexA, "/data/" + hexA, route{kind: kindObject, typ: overlay.Data, name: hexA}, nil},
		{"/data/" + hexA + "/", "/data/" + hexA + "/", route{kind: kindBad, typ: overlay.Data}, nil},
		{"/data/" + strings.ToUpper(hexA), "/data/" + strings.ToUpper(hexA), route{kind: kindBad, typ: overlay.Data}, nil},
		{"/data/xyz", "/data/xyz", route{kind: kindBad, typ: overlay.Data}, nil},
		{"/data/" + hexA + "/x", "/data/" + hexA + "/x", route{kind: kindBad, typ: overlay.Data}, nil},
		// An unknown type is just another repository folder.
		{"/a/foo/" + hexA, "/a/foo/" + hexA, route{kind: kindRepo, repo: []string{"a", "foo", hexA}}, nil},
		{"/my%20repo/config", "/my repo/config", route{}, errRepoName},
		{"/Host-1.example_org/a@b+c/config", "/Host-1.example_org/a@b+c/config", route{kind: kindConfig, repo: []string{"Host-1.example_org", "a@b+c"}, typ: overlay.Config}, nil},
		{"/1/2/3/4/5/6/7/8/config", "/1/2/3/4/5/6/7/8/config", route{kind: kindConfig, repo: strings.Split("1/2/3/4/5/6/7/8", "/"), typ: overlay.Config}, nil},

		{"/1/2/3/4/5/6/7/8/9/config", "/1/2/3/4/5/6/7/8/9/config", route{}, errTooDeep},
		{"/1/2/3/4/5/6/7/8/9/", "/1/2/3/4/5/6/7/8/9/", route{}, errTooDeep},
		{"", "", route{}, errBadPath},
		{"//", "//", route{}, errBadPath},
		{"//config", "//config", route{}, errBadPath},
		{"/a//config", "/a//config", route{}, errBadPath},
		{"/a/data//", "/a/data//", route{}, errBadPath},
		{"/../config", "/../config", route{}, errBadPath},
		{"/a/../config", "/a/../config", route{}, errBadPath},
		{"/a/./config", "/a/./config", route{}, errBadPath},
		{"/a/..", "/a/..", route{}, errBadPath},
		{"/a/%2e%2e/config", "/a/../config", route{}, errBadPath},
		{"/%2E%2E/config", "/../config", route{}, errBadPath},
		{"/%2e/config", "/./config", route{}, errBadPath},
		{"/a%2fb/config", "/a/b/config", route{}, errBadPath},
		{"/a%2Fb/config", "/a/b/config", route{}, errBadPath},
		{"/a/%252e%252e/config", "/a/%2e%2e/config", route{}, errBadPath},
		{"/a%252fb/config", "/a%2fb/config", route{}, errBadPath},
		{"/a%00/config", "/a\x00/config", route{}, errBadPath},
		{"/a%5cb/config", "/a\\b/config", route{}, errBadPath},
		{"/a\\b/config", "/a\\b/config", route{}, errBadPath},
		{"/a:b/config", "/a:b/config", route{}, errBadPath},
		{"/a%01/config", "/a\x01/config", route{}, errBadPath},
		{"/data/../config", "/data/../config", route{}, errBadPath},
		{"/data/./" + hexA, "/data/./" + hexA, route{}, errBadPath},
		{"/" + strings.Repeat("x", 256) + "/config", "/" + strings.Repeat("x", 256) + "/config", route{}, errBadPath},
		// Where steadyrest keeps its instance heartbeats, at any depth.
		{"/.steadyrest/config", "/.steadyrest/config", route{}, errReservedRepo},
		{"/.steadyrest/instances/", "/.steadyrest/instances/", route{}, errReservedRepo},
		{"/a/.steadyrest/?create=true", "/a/.steadyrest/", route{}, errReservedRepo},
		{"/.steadyrest-x/config", "/.steadyrest-x/config", route{}, errRepoName},
		// Outside the safe set: names rclone's encodings may turn into
		// other folders (fullwidth ．．and ／ into .. and /), and bytes that
		// are no UTF-8.
		{"/a/%EF%BC%8E%EF%BC%8E/b/config", "/a/．．/b/config", route{}, errRepoName},
		{"/a/x%EF%BC%8F..%EF%BC%8Fb/config", "/a/x／..／b/config", route{}, errRepoName},
		{"/a/%E2%90%80/config", "/a/␀/config", route{}, errRepoName},
		{"/M%C3%BCller/config", "/Müller/config", route{}, errRepoName},
		{"/.a/config", "/.a/config", route{}, errRepoName},
		{"/a./config", "/a./config", route{}, errRepoName},
		{"/a..b/config", "/a..b/config", route{kind: kindConfig, repo: []string{"a..b"}, typ: overlay.Config}, nil},
		{"/~a/config", "/~a/config", route{}, errRepoName},
		{"/%c0%ae%c0%ae/config", "/\xc0\xae\xc0\xae/config", route{}, errBadPath},
		{"/r/data/%ff", "/r/data/\xff", route{}, errBadPath},
	}
	for _, tt := range tests {
		got, err := parsePath(tt.raw, tt.decoded, defaultMaxRepoDepth)
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("parsePath(%q, %q): err %v, want %v", tt.raw, tt.decoded, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if got.repo == nil {
			got.repo = []string{}
		}
		if tt.want.repo == nil {
			tt.want.repo = []string{}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePath(%q): got %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func TestParsePathDepthOption(t *testing.T) {
	if _, err := parsePath("/a/b/config", "/a/b/config", 1); !errors.Is(err, errTooDeep) {
		t.Fatalf("depth 2 with max 1: err %v, want errTooDeep", err)
	}
	if _, err := parsePath("/a/config", "/a/config", 1); err != nil {
		t.Fatalf("depth 1 with max 1: %v", err)
	}
}

// rawRequest writes an HTTP request byte for byte, so that no client
// library cleans or re-encodes the path on the way.
func rawRequest(t *testing.T, addr, requestLine string, extra string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := requestLine + "\r\nHost: test\r\nConnection: close\r\n" + extra + "\r\n"
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	method, _, _ := strings.Cut(requestLine, " ")
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: read response: %v", requestLine, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestInvalidRequestsNeverTouchStore sends every kind of bad request over
// a real socket and proves that none of them reached the remote.
func TestInvalidRequestsNeverTouchStore(t *testing.T) {
	env := newEnv(t, "memory", Options{MaxSize: 100})
	addr := strings.TrimPrefix(env.srv.URL, "http://")
	env.fs.calls.Store(0)

	deep := "/1/2/3/4/5/6/7/8/9"
	cases := []struct {
		line  string
		extra string
		want  int
	}{
		{"GET /a/../config HTTP/1.1", "", 400},
		{"GET /../config HTTP/1.1", "", 400},
		{"GET /a/./config HTTP/1.1", "", 400},
		{"GET //config HTTP/1.1", "", 400},
		{"GET /a//config HTTP/1.1", "", 400},
		{"GET /a/%2e%2e/config HTTP/1.1", "", 400},
		{"GET /%2E%2E/config HTTP/1.1", "", 400},
		{"HEAD /a/%2e%2e/config HTTP/1.1", "", 400},
		{"DELETE /a/%2e%2e/data/" + hexA + " HTTP/1.1", "", 400},
		{"POST /a%2fb/config HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"GET /a/%252e%252e/config HTTP/1.1", "", 400},
		{"GET /a%00/config HTTP/1.1", "", 400},
		{"GET /a%5cb/config HTTP/1.1", "", 400},
		{"GET /a\\b/config HTTP/1.1", "", 400},
		{"GET /a:b/config HTTP/1.1", "", 400},
		{"POST /a/../?create=true HTTP/1.1", "Content-Length: 0\r\n", 400},
		// Names that are not 64 lowercase hex digits.
		{"GET /a/data/xyz HTTP/1.1", "", 404},
		{"HEAD /a/data/xyz HTTP/1.1", "", 404},
		{"DELETE /a/data/xyz HTTP/1.1", "", 404},
		{"POST /a/data/xyz HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"GET /a/keys/" + strings.ToUpper(hexA) + " HTTP/1.1", "", 404},
		{"POST /a/keys/" + hexA[:63] + " HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"GET /a/data/" + hexA + "/x HTTP/1.1", "", 404},
		// Unknown types and non-routes.
		{"GET /a/foo/" + hexA + " HTTP/1.1", "", 404},
		{"POST /a/foo/" + hexA + " HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"GET /a/config/ HTTP/1.1", "", 404},
		{"POST /a/config/ HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"POST /a/ HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"POST /a/?create=false HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"GET /a/ HTTP/1.1", "", 404},
		{"DELETE /a/data/ HTTP/1.1", "", 404},
		{"POST /a/data/ HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"PUT /a/config HTTP/1.1", "Content-Length: 0\r\n", 405},
		// Too deep.
		{"GET " + deep + "/config HTTP/1.1", "", 404},
		{"HEAD " + deep + "/config HTTP/1.1", "", 404},
		{"POST " + deep + "/config HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"POST " + deep + "/?create=true HTTP/1.1", "Content-Length: 0\r\n", 400},
		{"DELETE " + deep + "/config HTTP/1.1", "", 400},
		// Uploads refused before reading.
		{"POST /a/data/" + hexA + " HTTP/1.1", "Transfer-Encoding: chunked\r\n", 411},
		{"POST /a/data/" + hexA + " HTTP/1.1", "Content-Length: 101\r\n", 413},
	}
	for _, c := range cases {
		if got := rawRequest(t, addr, c.line, c.extra); got != c.want {
			t.Errorf("%s: status %d, want %d", c.line, got, c.want)
		}
	}
	if n := env.fs.calls.Load(); n != 0 {
		t.Fatalf("invalid requests made %d calls to the remote, want 0", n)
	}
	// The counter itself works: a valid request does reach the remote.
	rawRequest(t, addr, "GET /a/config HTTP/1.1", "")
	if env.fs.calls.Load() == 0 {
		t.Fatal("counting wrapper saw no call for a valid request")
	}
}
