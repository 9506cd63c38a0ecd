package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/overlay"
)

func TestNewOptions(t *testing.T) {
	store, err := overlay.New(newFs(t, "memory"), overlay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(store, Options{PrivateRepos: true}); err == nil {
		t.Error("New accepted private repositories without authentication")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New accepted a nil store")
	}
	if _, err := New(store, Options{MaxSize: -1}); err == nil {
		t.Error("New accepted a negative max size")
	}
}

func listV1(t *testing.T, e *testEnv, path string) []string {
	t.Helper()
	r := e.mustStatus(t, 200, "GET", path, nil)
	if ct := r.header.Get("Content-Type"); ct != contentTypeV1 {
		t.Fatalf("GET %s: Content-Type %q, want v1", path, ct)
	}
	var names []string
	if err := json.Unmarshal(r.body, &names); err != nil || names == nil {
		t.Fatalf("GET %s: body %q is not a JSON list: %v", path, r.body, err)
	}
	return names
}

func listV2(t *testing.T, e *testEnv, path string) []overlay.Entry {
	t.Helper()
	r := e.mustStatus(t, 200, "GET", path, nil, "Accept", contentTypeV2)
	if ct := r.header.Get("Content-Type"); ct != contentTypeV2 {
		t.Fatalf("GET %s: Content-Type %q, want v2", path, ct)
	}
	var entries []overlay.Entry
	if err := json.Unmarshal(r.body, &entries); err != nil || entries == nil {
		t.Fatalf("GET %s: body %q is not a JSON list: %v", path, r.body, err)
	}
	return entries
}

// TestProtocol runs the whole object life cycle on both real backends and
// at repository depths 0, 1 and 2.
func TestProtocol(t *testing.T) {
	for _, backend := range backends {
		for _, prefix := range []string{"", "/a", "/a/b"} {
			t.Run(backend+"/depth"+strconv.Itoa(strings.Count(prefix, "/")), func(t *testing.T) {
				testProtocol(t, newEnv(t, backend, Options{}), prefix)
			})
		}
	}
}

func testProtocol(t *testing.T, e *testEnv, p string) {
	e.mustStatus(t, 200, "POST", p+"/?create=true", []byte{})
	e.mustStatus(t, 200, "POST", p+"/?create=true", []byte{}) // idempotent

	// config
	r := e.mustStatus(t, 404, "HEAD", p+"/config", nil)
	r = e.mustStatus(t, 404, "GET", p+"/config", nil)
	if string(r.body) != "404 not found\n" {
		t.Errorf("404 body %q", r.body)
	}
	e.mustStatus(t, 200, "POST", p+"/config", []byte("the config"))
	r = e.mustStatus(t, 200, "GET", p+"/config", nil)
	if string(r.body) != "the config" {
		t.Fatalf("config body %q", r.body)
	}
	r = e.mustStatus(t, 200, "HEAD", p+"/config", nil)
	if r.header.Get("Content-Length") != "10" || len(r.body) != 0 {
		t.Fatalf("HEAD config: Content-Length %q, body %q", r.header.Get("Content-Length"), r.body)
	}

	// Empty listings are [] for every type, in both versions.
	for _, typ := range []string{"data", "keys", "locks", "snapshots", "index"} {
		if got := e.mustStatus(t, 200, "GET", p+"/"+typ+"/", nil).body; string(got) != "[]" {
			t.Errorf("v1 empty list of %s: %q", typ, got)
		}
		if got := e.mustStatus(t, 200, "GET", p+"/"+typ+"/", nil, "Accept", contentTypeV2).body; string(got) != "[]" {
			t.Errorf("v2 empty list of %s: %q", typ, got)
		}
	}

	for _, typ := range []string{"data", "keys", "locks", "snapshots", "index"} {
		body, name := blob("object of type " + typ + " in " + p)
		obj := p + "/" + typ + "/" + name
		e.mustStatus(t, 404, "HEAD", obj, nil)
		e.mustStatus(t, 200, "POST", obj, body)

		r = e.mustStatus(t, 200, "HEAD", obj, nil)
		if r.header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Fatalf("HEAD %s: Content-Length %q, want %d", obj, r.header.Get("Content-Length"), len(body))
		}
		r = e.mustStatus(t, 200, "GET", obj, nil)
		if string(r.body) != string(body) || r.header.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("GET %s: body %q, Accept-Ranges %q", obj, r.body, r.header.Get("Accept-Ranges"))
		}
		if got := listV1(t, e, p+"/"+typ+"/"); !reflect.DeepEqual(got, []string{name}) {
			t.Fatalf("v1 list %s: %v", typ, got)
		}
		if got := listV2(t, e, p+"/"+typ+"/"); !reflect.DeepEqual(got, []overlay.Entry{{Name: name, Size: int64(len(body))}}) {
			t.Fatalf("v2 list %s: %v", typ, got)
		}

		e.mustStatus(t, 200, "DELETE", obj, nil)
		e.mustStatus(t, 404, "HEAD", obj, nil)
		e.mustStatus(t, 404, "GET", obj, nil)
		e.mustStatus(t, 200, "DELETE", obj, nil) // missing is fine
		if got := listV2(t, e, p+"/"+typ+"/"); len(got) != 0 {
			t.Fatalf("list %s after delete: %v", typ, got)
		}
	}

	testRanges(t, e, p)
	testBadUploads(t, e, p)

	e.mustStatus(t, 200, "DELETE", p+"/config", nil)
	e.mustStatus(t, 404, "GET", p+"/config", nil)
}

func testRanges(t *testing.T, e *testEnv, p string) {
	body, name := blob("0123456789abcdefghij")
	obj := p + "/data/" + name
	e.mustStatus(t, 200, "POST", obj, body)
	for _, c := range []struct {
		rng, want, contentRange string
	}{
		{"bytes=2-5", "2345", "bytes 2-5/20"},
		{"bytes=15-", "fghij", "bytes 15-19/20"},
		{"bytes=18-100", "ij", "bytes 18-19/20"},
		{"bytes=-3", "hij", "bytes 17-19/20"},
		{"bytes=0-0", "0", "bytes 0-0/20"},
	} {
		r := e.mustStatus(t, 206, "GET", obj, nil, "Range", c.rng)
		if string(r.body) != c.want || r.header.Get("Content-Range") != c.contentRange ||
			r.header.Get("Content-Length") != strconv.Itoa(len(c.want)) {
			t.Errorf("Range %s: body %q Content-Range %q Content-Length %q; want %q %q",
				c.rng, r.body, r.header.Get("Content-Range"), r.header.Get("Content-Length"), c.want, c.contentRange)
		}
	}
	for _, rng := range []string{"bytes=20-", "bytes=20-30", "bytes=-0"} {
		r := e.mustStatus(t, 416, "GET", obj, nil, "Range", rng)
		if cr := r.header.Get("Content-Range"); cr != "bytes */20" {
			t.Errorf("Range %s: Content-Range %q, want bytes */20", rng, cr)
		}
	}
	for _, rng := range []string{"bytes=5-2", "bytes=x-", "lines=1-2", "bytes=0-1,3-4"} {
		e.mustStatus(t, 400, "GET", obj, nil, "Range", rng)
	}
	e.mustStatus(t, 404, "GET", p+"/data/"+strings.Repeat("0", 64), nil, "Range", "bytes=0-1")
	e.mustStatus(t, 200, "DELETE", obj, nil)
}

func testBadUploads(t *testing.T, e *testEnv, p string) {
	// Content that does not hash to its name is refused and not stored.
	body, _ := blob("some content")
	_, other := blob("other content")
	e.mustStatus(t, 400, "POST", p+"/data/"+other, body)
	e.mustStatus(t, 404, "HEAD", p+"/data/"+other, nil)
	if got := listV1(t, e, p+"/data/"); len(got) != 0 {
		t.Fatalf("rejected upload listed: %v", got)
	}

	// A body shorter than its Content-Length is not stored.
	body, name := blob(strings.Repeat("short body ", 100))
	status := shortUpload(t, e, p+"/keys/"+name, body, len(body)/2)
	if status != 400 {
		t.Errorf("short upload: status %d, want 400", status)
	}
	e.mustStatus(t, 404, "HEAD", p+"/keys/"+name, nil)
	if got := listV1(t, e, p+"/keys/"); len(got) != 0 {
		t.Fatalf("short upload listed: %v", got)
	}
}

// shortUpload declares len(body) bytes, sends only n of them and closes the
// sending side, as a client that dies mid-upload does.
func shortUpload(t *testing.T, e *testEnv, path string, body []byte, n int) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.srv.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", path, len(body))
	if _, err := conn.Write(body[:n]); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "POST"})
	if err != nil {
		t.Fatalf("short upload: read response: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestAppendOnly(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, Options{AppendOnly: true})
			e.mustStatus(t, 200, "POST", "/r/?create=true", []byte{})
			e.mustStatus(t, 200, "POST", "/r/config", []byte("cfg"))
			e.mustStatus(t, 403, "POST", "/r/config", []byte("evil"))
			e.mustStatus(t, 403, "DELETE", "/r/config", nil)
			if got := e.mustStatus(t, 200, "GET", "/r/config", nil).body; string(got) != "cfg" {
				t.Fatalf("config changed to %q", got)
			}
			for _, typ := range []string{"data", "keys", "snapshots", "index"} {
				body, name := blob("append only " + typ)
				e.mustStatus(t, 200, "POST", "/r/"+typ+"/"+name, body)
				e.mustStatus(t, 403, "POST", "/r/"+typ+"/"+name, body) // no overwrite
				e.mustStatus(t, 403, "DELETE", "/r/"+typ+"/"+name, nil)
				e.mustStatus(t, 200, "HEAD", "/r/"+typ+"/"+name, nil)
			}
			// Locks come and go even in append-only mode.
			body, name := blob("a lock")
			e.mustStatus(t, 200, "POST", "/r/locks/"+name, body)
			e.mustStatus(t, 200, "DELETE", "/r/locks/"+name, nil)
			e.mustStatus(t, 404, "HEAD", "/r/locks/"+name, nil)
		})
	}
}

func writeHtpasswd(t *testing.T, lines ...string) *Htpasswd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHtpasswd(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func TestAuth(t *testing.T) {
	auth := writeHtpasswd(t, shaLine("alice", "apw"), bcryptLine(t, "bob", "bpw", "$2y$"))
	e := newEnv(t, "memory", Options{Auth: auth})
	u := e.srv.URL
	for _, c := range []struct{ user, pass string }{{"", ""}, {"alice", "bad"}, {"carol", "apw"}} {
		r := doReq(t, u, "GET", "/bob/config", nil, c.user, c.pass)
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="steadyrest"` {
			t.Errorf("%q/%q: status %d, WWW-Authenticate %q", c.user, c.pass, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
	// Without private repositories any user reaches any repository.
	if r := doReq(t, u, "POST", "/bob/?create=true", []byte{}, "alice", "apw"); r.status != 200 {
		t.Fatalf("alice creating /bob: %d", r.status)
	}
	if r := doReq(t, u, "GET", "/bob/keys/", nil, "bob", "bpw"); r.status != 200 {
		t.Fatalf("bob listing: %d", r.status)
	}
	var users []string
	for _, ri := range e.infos.All() {
		users = append(users, ri.User)
	}
	if want := []string{"", "", "", "alice", "bob"}; !reflect.DeepEqual(users, want) {
		t.Errorf("observed users %q, want %q", users, want)
	}
}

func TestPrivateRepos(t *testing.T) {
	auth := writeHtpasswd(t, shaLine("alice", "apw"), shaLine("bob", "bpw"))
	e := newEnv(t, "local", Options{Auth: auth, PrivateRepos: true})
	u := e.srv.URL
	must := func(want int, method, path, user, pass string, body []byte) {
		t.Helper()
		if r := doReq(t, u, method, path, body, user, pass); r.status != want {
			t.Fatalf("%s %s as %s: %d, want %d (%q)", method, path, user, r.status, want, r.body)
		}
	}
	must(200, "POST", "/alice/?create=true", "alice", "apw", []byte{})
	must(200, "POST", "/alice/work/?create=true", "alice", "apw", []byte{})
	must(200, "POST", "/alice/config", "alice", "apw", []byte("cfg"))
	must(200, "GET", "/alice/config", "alice", "apw", nil)
	must(200, "GET", "/alice/work/keys/", "alice", "apw", nil)
	// Other users' repositories and the root are off limits.
	must(401, "GET", "/alice/config", "bob", "bpw", nil)
	must(401, "POST", "/alice/config", "bob", "bpw", []byte("x"))
	must(401, "DELETE", "/alice/config", "bob", "bpw", nil)
	must(401, "POST", "/bob/?create=true", "alice", "apw", []byte{})
	must(401, "GET", "/config", "alice", "apw", nil)
	must(401, "POST", "/?create=true", "alice", "apw", []byte{})
	must(401, "GET", "/alice/config", "", "", nil)
	// A user name is only a prefix match on whole folders.
	must(401, "GET", "/alicex/config", "alice", "apw", nil)
	must(200, "GET", "/alice/config", "alice", "apw", nil)
}

func TestMaxSize(t *testing.T) {
	e := newEnv(t, "memory", Options{MaxSize: 10})
	e.mustStatus(t, 200, "POST", "/?create=true", []byte{})
	body, name := blob("0123456789")
	e.mustStatus(t, 200, "POST", "/data/"+name, body)
	body, name = blob("0123456789a")
	e.mustStatus(t, 413, "POST", "/data/"+name, body)
	e.mustStatus(t, 404, "HEAD", "/data/"+name, nil)
}

func TestNoVerifyUpload(t *testing.T) {
	e := newEnv(t, "memory", Options{NoVerifyUpload: true})
	body, _ := blob("content")
	name := strings.Repeat("ab", 32)
	e.mustStatus(t, 200, "POST", "/data/"+name, body)
	if got := e.mustStatus(t, 200, "GET", "/data/"+name, nil).body; string(got) != "content" {
		t.Fatalf("body %q", got)
	}
}

// A repository path through .steadyrest, where instances keep their
// heartbeats, is refused with its reason, and restic's init cannot make
// one there.
func TestReservedRepoName(t *testing.T) {
	e := newEnv(t, "memory", Options{})
	r := e.mustStatus(t, 400, "POST", "/.steadyrest/?create=true", []byte{})
	if !strings.Contains(string(r.body), "reserved for steadyrest's own files") {
		t.Errorf("body %q does not say why", r.body)
	}
	e.mustStatus(t, 400, "GET", "/.steadyrest/instances/", nil)
	e.mustStatus(t, 200, "POST", "/steadyrest/?create=true", []byte{})
}

// TestListErrorIsNotEmpty: a remote failure during a listing must be an
// error, never "[]" (prune would treat missing index files as absent).
func TestListErrorIsNotEmpty(t *testing.T) {
	e := newEnv(t, "memory", Options{})
	e.mustStatus(t, 200, "POST", "/?create=true", []byte{})
	body, name := blob("index content")
	e.mustStatus(t, 200, "POST", "/index/"+name, body)
	e.fs.failList.Store(true)
	for _, accept := range []string{"", contentTypeV2} {
		r := e.do(t, "GET", "/index/", nil, "Accept", accept)
		// 503: a remote failure that may heal, which restic retries.
		if r.status != 503 || strings.Contains(string(r.body), "[") {
			t.Errorf("list with failing remote (Accept %q): %d %q, want 503", accept, r.status, r.body)
		}
	}
}

func TestObserver(t *testing.T) {
	e := newEnv(t, "memory", Options{})
	body, name := blob("observed")
	e.mustStatus(t, 200, "POST", "/x/y/?create=true", []byte{})
	e.mustStatus(t, 200, "POST", "/x/y/snapshots/"+name, body)
	e.mustStatus(t, 200, "GET", "/x/y/snapshots/"+name, nil)
	e.mustStatus(t, 200, "GET", "/x/y/snapshots/", nil)
	e.mustStatus(t, 400, "GET", "/x/../config", nil)
	got := e.infos.All()
	want := []RequestInfo{
		{Method: "POST", Repo: "x/y", Type: "", Status: 200},
		{Method: "POST", Repo: "x/y", Type: "snapshots", Status: 200, BytesIn: int64(len(body)), Name: name},
		{Method: "GET", Repo: "x/y", Type: "snapshots", Status: 200, BytesOut: int64(len(body)), Name: name},
		{Method: "GET", Repo: "x/y", Type: "snapshots", Status: 200, BytesOut: int64(len(`["` + name + `"]`)), List: true,
			Listing: []overlay.Entry{{Name: name, Size: int64(len(body))}}},
		{Method: "GET", Repo: "", Type: "", Status: 400, BytesOut: int64(len("400 bad request\n"))},
	}
	if len(got) != len(want) {
		t.Fatalf("observer saw %d requests, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Duration <= 0 {
			t.Errorf("request %d: no duration", i)
		}
		got[i].Duration = 0
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
