package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/operations"
	"github.com/steadyrest/steadyrest/internal/testutil"
	"github.com/steadyrest/steadyrest/overlay"
)

// maxHeaderBytes is what cmd/steadyrest sets on its http.Server; the 431
// cases only mean something with the same limit.
const maxHeaderBytes = 64 << 10

// What a bad-input case may do to the remote.
type remoteCheck int

const (
	untouched     remoteCheck = iota // zero calls on the counting wrapper
	nothingStored                    // the attempt reaches the remote, but no object (or partial) is left
	unchanged                        // an existing object keeps its bytes
	anyRemote                        // a lookup is needed (416 needs the size); only the answer is checked
)

// badCase is one request written byte for byte on a fresh connection.
type badCase struct {
	name      string
	env       string // which server set-up: see badEnvOptions
	method    string
	target    string   // request-target exactly as sent
	hdr       []string // extra header lines
	clen      string   // Content-Length header value; "" sends none
	body      []byte
	halfClose bool // close the sending side after the body: a client that died
	user      string
	pass      string

	want    int
	wantHdr map[string]string
	check   remoteCheck
	obj     overlay.Handle // for nothingStored and unchanged
	orig    []byte         // for unchanged
}

// badEnv is one server set-up with its seeded repository "r".
type badEnv struct {
	addr   string
	fs     *countingFs
	store  *overlay.Store
	obj    overlay.Handle // a 10-byte data object in r
	objRaw []byte
	cfg    []byte // r's config
	logs   *testutil.Buffer
}

var (
	badObjBody, badObjName = blob("0123456789")
	badCfg                 = []byte("the config")
)

// badHtpasswd has two good users and a line of every kind the parser must
// skip. badHtpasswdSkipped is how many warnings it should cause.
func badHtpasswd(t *testing.T) []string {
	return []string{
		"# a comment",
		shaLine("alice", "apw"),
		bcryptLine(t, "bob", "bpw", "$2y$"),
		"nocolon",
		":apw",
		"emptyhash:",
		"md5:$apr1$abcdefgh$0123456789abcdefghijkl", // well-formed: read since issue 23
		"crypt:abJnggxhB/yWI",
		"shortsha:{SHA}AAAA",
		"notbase64:{SHA}!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"badbcrypt:$2y$99$xyz",
		// Well-formed but cost 31: days per check, and the start would
		// hang making the unknown-user dummy hash at that cost.
		"slow:$2a$31$" + strings.Repeat("a", 53),
		"",
	}
}

const badHtpasswdSkipped = 8

func badEnvOptions(env string) Options {
	switch env {
	case "plain":
		return Options{MaxSize: 1024}
	case "append":
		return Options{AppendOnly: true}
	case "auth":
		return Options{}
	case "private":
		return Options{PrivateRepos: true}
	}
	panic("unknown env " + env)
}

// newBadEnv serves a real store over a real socket, with the header limit
// of the binary, and seeds repository r with a config and one data object.
func newBadEnv(t *testing.T, backend, env string) *badEnv {
	t.Helper()
	ctx := context.Background()
	cf := &countingFs{Fs: newFs(t, backend)}
	store, err := overlay.New(cf, overlay.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("overlay.New: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })

	be := &badEnv{fs: cf, store: store, logs: &testutil.Buffer{},
		obj: overlay.Handle{Repo: "r", Type: overlay.Data, Name: badObjName}, objRaw: badObjBody, cfg: badCfg}
	opt := badEnvOptions(env)
	opt.Logger = testLogger(t)
	if env == "auth" || env == "private" {
		path := filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(path, []byte(strings.Join(badHtpasswd(t), "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := LoadHtpasswd(path, slog.New(slog.NewTextHandler(be.logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		opt.Auth = h
	}
	h, err := New(store, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.MaxHeaderBytes = maxHeaderBytes
	srv.Start()
	t.Cleanup(srv.Close)
	be.addr = srv.Listener.Addr().String()

	repos := []string{"r"}
	if env == "private" {
		repos = append(repos, "alice", "bob")
	}
	// The seed goes straight to the remote, as if an earlier run had
	// written it: the overlay then holds no record whose background
	// confirmation could be mistaken for a call caused by a bad request.
	seed := func(remote string, b []byte) {
		if _, err := operations.Rcat(ctx, cf.Fs, remote, io.NopCloser(bytes.NewReader(b)), time.Now(), nil); err != nil {
			t.Fatalf("seed %s: %v", remote, err)
		}
	}
	for _, repo := range repos {
		if err := store.CreateRepo(ctx, repo); err != nil {
			t.Fatalf("create %s: %v", repo, err)
		}
		seed(repo+"/config", badCfg)
	}
	seed("r/data/"+badObjName[:2]+"/"+badObjName, badObjBody)
	if st := store.Stats(); st.Created+st.Tombstones > 0 {
		t.Fatalf("overlay holds records after seeding: %+v", st)
	}
	return be
}

// send writes c on a new connection and reads the answer.
func (be *badEnv) send(t *testing.T, c badCase) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", be.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n", c.method, c.target)
	if c.user != "" || c.pass != "" {
		fmt.Fprintf(&b, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass)))
	}
	if c.clen != "" {
		fmt.Fprintf(&b, "Content-Length: %s\r\n", c.clen)
	}
	for _, h := range c.hdr {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(c.body)
	// The server may answer (431, 413) and close before it read all of a
	// large request; the answer is what counts, so write errors are not
	// fatal, and the write runs beside the read so neither side blocks.
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(b.Bytes())
		if err == nil && c.halfClose {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		wrote <- err
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: c.method})
	if err != nil {
		t.Fatalf("read response (write: %v): %v", <-wrote, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	conn.Close()
	<-wrote
	return res, body
}

func hexName(s string) string { _, n := blob(s); return n }

// badCases lists every kind of bad input the server must refuse, with the
// exact answer. Cases are grouped by server set-up.
func badCases(t *testing.T) []badCase {
	obj := "/r/data/" + badObjName
	deep := strings.Repeat("/d", defaultMaxRepoDepth+1)
	over, overName := blob(strings.Repeat("x", 1025))
	half, halfName := blob(strings.Repeat("half ", 40))
	wrongBody, _ := blob("the real content")
	wrongName := hexName("what the name claims")
	long, _ := blob(strings.Repeat("y", 2000))
	longName := hexName(string(long))
	h := func(typ overlay.Type, name string) overlay.Handle {
		return overlay.Handle{Repo: "r", Type: typ, Name: name}
	}
	get := func(name, target string, want int) badCase {
		return badCase{name: name, env: "plain", method: "GET", target: target, want: want}
	}
	post := func(name, target string, body []byte, want int) badCase {
		return badCase{name: name, env: "plain", method: "POST", target: target, body: body, clen: strconv.Itoa(len(body)), want: want}
	}
	rng := func(spec string) badCase {
		c := get("range "+spec, obj, 400)
		c.hdr = []string{"Range: " + spec}
		return c
	}
	unsat := func(spec string) badCase {
		c := get("unsatisfiable range "+spec, obj, 416)
		c.hdr = []string{"Range: " + spec}
		c.wantHdr = map[string]string{"Content-Range": "bytes */10"}
		c.check = anyRemote
		return c
	}
	as := func(c badCase, env, user, pass string) badCase {
		c.env, c.user, c.pass = env, user, pass
		return c
	}
	withHdr := func(c badCase, hdr ...string) badCase { c.hdr = hdr; return c }
	stored := func(c badCase, hd overlay.Handle) badCase { c.check, c.obj = nothingStored, hd; return c }

	manyHeaders := make([]string, 0, 2100)
	for i := range 2100 {
		manyHeaders = append(manyHeaders, fmt.Sprintf("X-H%d: %s", i, strings.Repeat("v", 30)))
	}

	return []badCase{
		// Traversal, plain and escaped.
		get("dotdot at root", "/../config", 400),
		get("dotdot in repo", "/r/../config", 400),
		get("dotdot at end", "/r/..", 400),
		get("lone dotdot", "/..", 400),
		get("dot segment", "/r/./config", 400),
		get("dot at root", "/./config", 400),
		get("empty segment", "/r//config", 400),
		get("double slash root", "//config", 400),
		get("encoded dotdot", "/r/%2e%2e/config", 400),
		get("encoded dotdot upper", "/r/%2E%2E/config", 400),
		get("encoded dotdot mixed", "/r/.%2e/config", 400),
		get("encoded dot", "/r/%2e/config", 400),
		get("encoded slash", "/r%2fx/config", 400),
		get("encoded slash upper", "/r%2Fx/config", 400),
		get("encoded slash traversal", "/r/..%2f..%2fconfig", 400),
		get("encoded backslash", "/r%5cx/config", 400),
		get("encoded backslash upper", "/r%5Cx/config", 400),
		get("double-encoded dotdot", "/r/%252e%252e/config", 400),
		get("double-encoded slash", "/r%252fx/config", 400),
		get("backslash", `/r\x/config`, 400),
		get("backslash traversal", `/r/..\..\config`, 400),
		get("encoded NUL", "/r%00/config", 400),
		get("encoded NUL in name", "/r/data/%00", 400),
		get("raw NUL", "/r\x00/config", 400), // net/http refuses control bytes
		get("colon in repo", "/r:x/config", 400),
		get("reserved repo", "/.steadyrest/config", 400),
		get("list reserved folder", "/.steadyrest/instances/", 400),
		get("reserved nested repo", "/r/.steadyrest/keys/", 400),
		post("create reserved repo", "/.steadyrest/?create=true", nil, 400),
		post("POST traversal", "/r/../config", []byte("x"), 400),
		post("create traversal", "/r/%2e%2e/?create=true", nil, 400),
		{name: "DELETE traversal", env: "plain", method: "DELETE", target: "/r/../data/" + badObjName, want: 400},
		{name: "HEAD encoded traversal", env: "plain", method: "HEAD", target: "/r/%2e%2e/config", want: 400},

		// Names.
		get("65 hex chars", "/r/data/"+badObjName+"a", 404),
		post("POST 65 hex chars", "/r/data/"+badObjName+"a", []byte("x"), 400),
		get("63 hex chars", "/r/data/"+badObjName[:63], 404),
		get("10 KB name", "/r/data/"+strings.Repeat("ab", 5<<10), 404),
		post("POST 10 KB name", "/r/keys/"+strings.Repeat("ab", 5<<10), []byte("x"), 400),
		get("10 KB folder name", "/"+strings.Repeat("a", 10<<10)+"/config", 400),
		get("10 KB of folders", strings.Repeat("/a", 5<<10)+"/config", 404), // too deep
		post("POST 10 KB of folders", strings.Repeat("/a", 5<<10)+"/config", []byte("x"), 400),
		get("non-hex name", "/r/data/"+strings.Repeat("z", 64), 404),
		post("POST non-hex name", "/r/keys/"+strings.Repeat("g", 64), []byte("x"), 400),
		get("uppercase hex", "/r/data/"+strings.ToUpper(badObjName), 404),
		post("POST uppercase hex", "/r/data/"+strings.ToUpper(badObjName), badObjBody, 400),
		{name: "DELETE uppercase hex", env: "plain", method: "DELETE", target: "/r/data/" + strings.ToUpper(badObjName), want: 404},
		get("name under config", "/r/config/"+badObjName, 404),
		get("extra segment after name", obj+"/x", 404),

		// Types and routes.
		get("unknown type", "/r/foo/"+badObjName, 404),
		post("POST unknown type", "/r/foo/"+badObjName, []byte("x"), 400),
		post("POST to a type folder", "/r/data/", []byte("x"), 400),
		post("POST repo without create", "/r/", nil, 400),
		{name: "PUT object", env: "plain", method: "PUT", target: obj, clen: "1", body: []byte("x"), want: 405},
		{name: "PATCH config", env: "plain", method: "PATCH", target: "/r/config", clen: "0", want: 405},

		// Depth.
		get("too deep", deep+"/config", 404),
		{name: "HEAD too deep", env: "plain", method: "HEAD", target: deep + "/config", want: 404},
		post("POST too deep", deep+"/config", []byte("x"), 400),
		post("create too deep", deep+"/?create=true", nil, 400),
		{name: "DELETE too deep", env: "plain", method: "DELETE", target: deep + "/config", want: 400},

		// Bodies.
		post("over MaxSize", "/r/data/"+overName, over, 413),
		stored(post("shorter than Content-Length", "/r/keys/"+halfName, half[:len(half)/2], 400), h(overlay.Keys, halfName)),
		stored(post("no body at all", "/r/data/"+halfName, nil, 400), h(overlay.Data, halfName)),
		stored(post("wrong SHA-256", "/r/data/"+wrongName, wrongBody, 400), h(overlay.Data, wrongName)),
		stored(post("wrong SHA-256 lock", "/r/locks/"+wrongName, wrongBody, 400), h(overlay.Locks, wrongName)),
		stored(post("longer than Content-Length", "/r/data/"+longName, long, 400), h(overlay.Data, longName)),
		withHdr(post("chunked", "/r/data/"+halfName, []byte("5\r\nhello\r\n0\r\n\r\n"), 411), "Transfer-Encoding: chunked"),
		post("negative Content-Length", "/r/data/"+halfName, nil, 400),
		withHdr(post("two Content-Lengths", "/r/data/"+halfName, []byte("ab"), 400), "Content-Length: 1"),
		post("non-numeric Content-Length", "/r/data/"+halfName, nil, 400),

		// Range.
		rng("bytes=abc"),
		rng("bytes=5-2"),
		rng("items=0-1"),
		rng("bytes=0-1,2-3"),
		rng("bytes=0-1, 5-"),
		rng("bytes="),
		rng("bytes=-"),
		rng("bytes=1-2-3"),
		rng("bytes=+1-2"),
		rng("bytes=1-+2"),
		rng("bytes=99999999999999999999-"),
		rng("bytes 0-1"),
		unsat("bytes=10-"),
		unsat("bytes=100-200"),
		unsat("bytes=-0"),

		// Header size: net/http answers 431 before the handler runs.
		withHdr(get("one huge header", "/r/config", 431), "X-Big: "+strings.Repeat("b", 80<<10)),
		withHdr(get("many headers", "/r/config", 431), manyHeaders...),
		get("huge request line", "/r/data/"+strings.Repeat("a", 80<<10), 431),

		// Authentication.
		{name: "no credentials", env: "auth", method: "GET", target: "/r/config", want: 401,
			wantHdr: map[string]string{"WWW-Authenticate": `Basic realm="steadyrest"`}},
		as(get("wrong password", "/r/config", 401), "auth", "alice", "wrong"),
		as(get("wrong bcrypt password", "/r/config", 401), "auth", "bob", "apw"),
		as(get("unknown user", "/r/config", 401), "auth", "carol", "apw"),
		as(get("user of a skipped line", "/r/config", 401), "auth", "md5", "x"),
		as(get("user of a cost-31 line", "/r/config", 401), "auth", "slow", "x"),
		as(get("empty user", "/r/config", 401), "auth", "", "apw"),
		as(get("empty password", "/r/config", 401), "auth", "alice", ""),
		withHdr(as(get("not base64", "/r/config", 401), "auth", "", ""), "Authorization: Basic !!!"),
		withHdr(as(get("not basic", "/r/config", 401), "auth", "", ""), "Authorization: Bearer abc"),
		as(post("POST without credentials", "/r/data/"+badObjName, badObjBody, 401), "auth", "", ""),

		// Private repositories: alice may not reach bob's, escaped or not.
		as(get("plain crossing", "/bob/config", 401), "private", "alice", "apw"),
		as(get("crossing by dotdot", "/alice/../bob/config", 400), "private", "alice", "apw"),
		as(get("crossing by encoded dotdot", "/alice/%2e%2e/bob/config", 400), "private", "alice", "apw"),
		as(get("crossing by upper encoded dotdot", "/alice/%2E%2E/bob/config", 400), "private", "alice", "apw"),
		as(get("crossing by encoded slash", "/alice/..%2fbob/config", 400), "private", "alice", "apw"),
		as(get("crossing by double encoding", "/alice/%252e%252e/bob/config", 400), "private", "alice", "apw"),
		as(post("create crossing", "/alice/../bob/x/?create=true", nil, 400), "private", "alice", "apw"),
		as(get("root repository", "/config", 401), "private", "alice", "apw"),
		as(get("prefix is not a folder", "/alicex/config", 401), "private", "alice", "apw"),

		// Append-only: add, never overwrite or delete.
		{name: "overwrite object", env: "append", method: "POST", target: obj, clen: "10", body: badObjBody, want: 403,
			check: unchanged, obj: h(overlay.Data, badObjName), orig: badObjBody},
		{name: "overwrite config", env: "append", method: "POST", target: "/r/config", clen: "4", body: []byte("evil"), want: 403,
			check: unchanged, obj: overlay.Handle{Repo: "r", Type: overlay.Config}, orig: badCfg},
		{name: "delete object", env: "append", method: "DELETE", target: obj, want: 403},
		{name: "delete config", env: "append", method: "DELETE", target: "/r/config", want: 403},
	}
}

// fixups for cases whose header values cannot be derived from the body.
func fixCase(c badCase) badCase {
	switch c.name {
	case "shorter than Content-Length", "no body at all":
		c.clen, c.halfClose = "200", true
	case "longer than Content-Length":
		c.clen = "10"
	case "negative Content-Length":
		c.clen = "-1"
	case "non-numeric Content-Length":
		c.clen = "12abc"
	case "chunked":
		c.clen = ""
	}
	return c
}

func TestBadInput(t *testing.T) {
	cases := badCases(t)
	byEnv := map[string][]badCase{}
	for _, c := range cases {
		byEnv[c.env] = append(byEnv[c.env], fixCase(c))
	}
	for _, backend := range backends {
		for _, env := range []string{"plain", "append", "auth", "private"} {
			// Not parallel: rclone's lazy config load in fs.NewFs races
			// on first use, and the whole table takes under a second.
			t.Run(backend+"/"+env, func(t *testing.T) {
				be := newBadEnv(t, backend, env)
				for _, c := range byEnv[env] {
					be.run(t, c)
				}
				be.positiveControl(t, env)
			})
		}
	}
}

func (be *badEnv) run(t *testing.T, c badCase) {
	t.Helper()
	ctx := context.Background()
	be.fs.calls.Store(0)
	res, body := be.send(t, c)
	if res.StatusCode != c.want {
		t.Errorf("%s: %s %.80q: status %d, want %d (%q)", c.name, c.method, c.target, res.StatusCode, c.want, body)
	}
	for k, v := range c.wantHdr {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", c.name, k, got, v)
		}
	}
	calls := be.fs.calls.Load()
	switch c.check {
	case untouched:
		if calls != 0 {
			t.Errorf("%s: %d calls reached the remote, want 0", c.name, calls)
		}
	case nothingStored:
		if _, err := be.store.Lookup(ctx, c.obj); !errors.Is(err, overlay.ErrNotFound) {
			t.Errorf("%s: lookup after the refused upload: %v, want not found", c.name, err)
		}
		entries, err := be.store.List(ctx, c.obj.Repo, c.obj.Type)
		if err != nil {
			t.Fatalf("%s: list: %v", c.name, err)
		}
		for _, e := range entries {
			if e.Name == c.obj.Name {
				t.Errorf("%s: refused upload is listed", c.name)
			}
		}
		// Nothing under any name, partial or temporary, on the remote itself.
		err = operations.ListFn(ctx, be.fs.Fs, func(o fs.Object) {
			if strings.Contains(o.Remote(), c.obj.Name) {
				t.Errorf("%s: remote holds %q", c.name, o.Remote())
			}
		})
		if err != nil {
			t.Fatalf("%s: walk remote: %v", c.name, err)
		}
	case unchanged:
		obj, err := be.store.Lookup(ctx, c.obj)
		if err != nil {
			t.Fatalf("%s: lookup: %v", c.name, err)
		}
		rc, err := obj.Open(ctx, 0, -1)
		if err != nil {
			t.Fatalf("%s: open: %v", c.name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, c.orig) {
			t.Errorf("%s: object now %q (err %v), want %q", c.name, got, err, c.orig)
		}
	case anyRemote:
	}
}

// positiveControl proves the set-up can fail the assertions above: valid
// requests get through and do reach the counted remote, and the good
// htpasswd lines survive the bad ones.
func (be *badEnv) positiveControl(t *testing.T, env string) {
	t.Helper()
	ok := func(user, pass string) {
		t.Helper()
		be.fs.calls.Store(0)
		// A HEAD of a name nobody has asked about: no cache can answer
		// it, so a valid request must reach the remote (and miss).
		name := fmt.Sprintf("%064x", time.Now().UnixNano())
		c := badCase{method: "HEAD", target: "/r/keys/" + name, user: user, pass: pass}
		if env == "private" {
			c.target = "/" + user + "/keys/" + name
		}
		res, body := be.send(t, c)
		if res.StatusCode != 404 {
			t.Fatalf("control %s as %q: %d (%q)", c.target, user, res.StatusCode, body)
		}
		if be.fs.calls.Load() == 0 {
			t.Fatalf("control %s: the counting wrapper saw no call", c.target)
		}
	}
	switch env {
	case "auth", "private":
		ok("alice", "apw")
		ok("bob", "bpw")
		if n := strings.Count(be.logs.String(), "htpasswd: skipping"); n != badHtpasswdSkipped {
			t.Errorf("htpasswd warnings: %d, want %d:\n%s", n, badHtpasswdSkipped, be.logs.String())
		}
	default:
		ok("", "")
		// And a range that is fine is served.
		res, body := be.send(t, badCase{method: "GET", target: "/r/data/" + badObjName, hdr: []string{"Range: bytes=2-4"}})
		if res.StatusCode != 206 || string(body) != "234" {
			t.Fatalf("control range: %d %q", res.StatusCode, body)
		}
	}
}

// slowConfirmFs is a real backend whose uploads take a while after the
// last byte has arrived, as a cloud that checksums a large file does.
type slowConfirmFs struct {
	fs.Fs
	delay time.Duration
}

func (s *slowConfirmFs) Put(ctx context.Context, in io.Reader, src fs.ObjectInfo, options ...fs.OpenOption) (fs.Object, error) {
	b, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("slow confirm: %w", ctx.Err())
	case <-time.After(s.delay):
	}
	return s.Fs.Put(ctx, bytes.NewReader(b), src, options...)
}

// timeoutEnv serves a store over f with the given idle body timeout.
func timeoutEnv(t *testing.T, f fs.Fs, opt Options) (*badEnv, *testutil.List[RequestInfo]) {
	t.Helper()
	store, err := overlay.New(f, overlay.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("overlay.New: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	infos := &testutil.List[RequestInfo]{}
	opt.Observer, opt.Logger = infos.Add, testLogger(t)
	h, err := New(store, opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if err := store.CreateRepo(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	return &badEnv{addr: srv.Listener.Addr().String(), store: store, fs: &countingFs{Fs: f}}, infos
}

// startUpload sends the head of a POST declaring size bytes and returns
// the connection for the caller to feed.
// startDownload stores body as the pack hexA of repository r, served with
// the idle timeout idle, and sends a GET of it (with the header lines hdr)
// on a connection of its own, which it returns unread.
func startDownload(t *testing.T, idle time.Duration, body []byte, hdr string) (*testutil.List[RequestInfo], net.Conn) {
	t.Helper()
	e, infos := timeoutEnv(t, newFs(t, "memory"), Options{IdleBodyTimeout: idle})
	h := overlay.Handle{Repo: "r", Type: overlay.Data, Name: hexA}
	if err := e.store.Put(context.Background(), h, bytes.NewReader(body), int64(len(body)), overlay.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET /r/data/%s HTTP/1.1\r\nHost: test\r\n%s\r\n", hexA, hdr); err != nil {
		t.Fatal(err)
	}
	return infos, conn
}

func startUpload(t *testing.T, addr, target string, size int) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", target, size); err != nil {
		t.Fatal(err)
	}
	return conn
}

func readAnswer(t *testing.T, conn net.Conn, method string) (int, []byte) {
	t.Helper()
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, b
}

func TestIdleBodyTimeout(t *testing.T) {
	const idle = 500 * time.Millisecond
	for _, backend := range backends {
		t.Run(backend+"/stalled upload is cut off and stores nothing", func(t *testing.T) {
			e, _ := timeoutEnv(t, newFs(t, backend), Options{IdleBodyTimeout: idle})
			body, name := blob(strings.Repeat("stalled ", 125))
			conn := startUpload(t, e.addr, "/r/data/"+name, len(body))
			if _, err := conn.Write(body[:100]); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			status, _ := readAnswer(t, conn, "POST")
			took := time.Since(start)
			if status != http.StatusBadRequest {
				t.Errorf("stalled upload: status %d, want 400", status)
			}
			if took < idle-50*time.Millisecond || took > idle+3*time.Second {
				t.Errorf("stalled upload answered after %s, want about %s", took, idle)
			}
			h := overlay.Handle{Repo: "r", Type: overlay.Data, Name: name}
			e.run(t, badCase{name: "stalled upload", method: "HEAD", target: "/r/data/" + name, want: 404, check: nothingStored, obj: h})
		})

		t.Run(backend+"/slow but steady upload succeeds", func(t *testing.T) {
			e, _ := timeoutEnv(t, newFs(t, backend), Options{IdleBodyTimeout: idle})
			body, name := blob(strings.Repeat("steady! ", 125)) // 1000 bytes in 25 pieces
			conn := startUpload(t, e.addr, "/r/keys/"+name, len(body))
			start := time.Now()
			for i := 0; i < len(body); i += 40 {
				time.Sleep(100 * time.Millisecond)
				if _, err := conn.Write(body[i : i+40]); err != nil {
					t.Fatalf("write after %s: %v", time.Since(start), err)
				}
			}
			if status, b := readAnswer(t, conn, "POST"); status != 200 {
				t.Fatalf("steady upload over %s: %d %q", time.Since(start), status, b)
			}
			if took := time.Since(start); took < 4*idle {
				t.Fatalf("upload took %s, not longer than the timeout: proves nothing", took)
			}
			e.run(t, badCase{name: "steady upload", method: "GET", target: "/r/keys/" + name, want: 200, check: unchanged,
				obj: overlay.Handle{Repo: "r", Type: overlay.Keys, Name: name}, orig: body})
		})
	}

	t.Run("slow store after the last byte is not cut off", func(t *testing.T) {
		// The read deadline must not outlive the body: net/http's
		// background read would fire and cancel the store's work.
		e, _ := timeoutEnv(t, &slowConfirmFs{Fs: newFs(t, "memory"), delay: 4 * idle}, Options{IdleBodyTimeout: idle})
		body, name := blob("confirmed slowly")
		conn := startUpload(t, e.addr, "/r/data/"+name, len(body))
		if _, err := conn.Write(body); err != nil {
			t.Fatal(err)
		}
		if status, b := readAnswer(t, conn, "POST"); status != 200 {
			t.Fatalf("upload with a slow store: %d %q", status, b)
		}
	})

	t.Run("refused upload of a stalled client closes the connection", func(t *testing.T) {
		e, _ := timeoutEnv(t, newFs(t, "memory"), Options{IdleBodyTimeout: idle, MaxSize: 100})
		conn := startUpload(t, e.addr, "/r/data/"+hexA, 1000)
		status, _ := readAnswer(t, conn, "POST")
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", status)
		}
		// The refusal leaves the body unread and closes the connection
		// (net/http would otherwise drain a small body to reuse it).
		start := time.Now()
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatal("server sent more after the answer")
		}
		if took := time.Since(start); took > idle+3*time.Second {
			t.Fatalf("connection held %s after the answer", took)
		}
	})

	t.Run("download to a client that stops reading is cut off", func(t *testing.T) {
		// More than loopback socket buffers can hold, so writes block.
		big := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB
		infos, conn := startDownload(t, idle, big, "")
		if _, err := io.ReadFull(conn, make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		// Stop reading; the handler must give up and report the request.
		deadline := time.Now().Add(idle + 10*time.Second)
		for {
			var got *RequestInfo
			for _, ri := range infos.All() {
				if ri.Method == "GET" {
					got = &ri
				}
			}
			if got != nil {
				if got.BytesOut >= int64(len(big)) {
					t.Fatalf("all %d bytes written to a client that stopped reading", got.BytesOut)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("download to a stalled reader still running")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("a slow steady reader gets everything", func(t *testing.T) {
		// A longer timeout than above: on a loaded machine (-race, two
		// shared cores, CI run 10 at load 11) the reader's own hiccups
		// reached 1 s, and they must stay well inside it.
		const idle = 6 * idle
		big := bytes.Repeat([]byte("fedcba9876543210"), 1<<20) // 16 MiB
		_, conn := startDownload(t, idle, big, "Connection: close\r\n")
		res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		// 512 KiB every 250 ms: a pause a twelfth of the timeout each
		// time, over a transfer (8 s) longer than twice the timeout.
		var got bytes.Buffer
		start := time.Now()
		for {
			n, err := io.CopyN(&got, res.Body, 512<<10)
			if err == io.EOF || n == 0 {
				break
			}
			if err != nil {
				t.Fatalf("after %d bytes: %v", got.Len(), err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		if !bytes.Equal(got.Bytes(), big) {
			t.Fatalf("got %d bytes, want %d", got.Len(), len(big))
		}
		if took := time.Since(start); took < 2*idle {
			t.Fatalf("read took %s: not longer than the timeout, proves nothing", took)
		}
	})
}
