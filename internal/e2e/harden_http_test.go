package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

// The issue-21 attack tests talk to the real binary over HTTP, as restic
// does, and look at what lands in the local folder behind it.

// hardenServer starts the built steadyrest on the local folder root with
// its state in state, plus extra flags, and creates the repository repo.
func hardenServer(t *testing.T, root, state string, extra ...string) *Server {
	t.Helper()
	if serverKind != "steadyrest" {
		t.Skip("steadyrest's own hardening")
	}
	srv := StartServer(t, SteadyrestSpec(serverBin, root, state, extra...))
	if code := call(t, srv, http.MethodPost, "/repo/?create=true", nil); code != http.StatusOK {
		t.Fatalf("create repository: %d", code)
	}
	return srv
}

// lockedServer is hardenServer with write-behind for an hour, holding one
// lock acknowledged and not uploaded.
func lockedServer(t *testing.T, root, state string, lock []byte) *Server {
	t.Helper()
	srv := hardenServer(t, root, state, "--lock-upload-delay", "1h")
	upload(t, srv, "locks", lock)
	return srv
}

// upload stores data under typ in /repo through srv, which must answer
// 200, and returns objectPath's paths.
func upload(t *testing.T, srv *Server, typ string, data []byte) (api, file string) {
	t.Helper()
	api, file = objectPath(typ, data)
	if code := call(t, srv, http.MethodPost, api, data); code != http.StatusOK {
		t.Fatalf("upload of %s: %d", api, code)
	}
	return api, file
}

// redisOf is a client of rds of the test's own, as anyone with access to
// Redis has.
func redisOf(t *testing.T, rds *redistest.Server) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(rds.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// call sends one request to srv and returns its status.
func call(t *testing.T, srv *Server, method, path string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+srv.Addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// get returns the status and body of GET path.
func get(t *testing.T, srv *Server, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + srv.Addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b
}

// objectPath is the API path of data under typ in /repo, named by its
// SHA-256, and the file it lands in below the remote's root.
func objectPath(typ string, data []byte) (api, file string) {
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	file = filepath.Join("repo", typ, id)
	if typ == "data" {
		file = filepath.Join("repo", "data", id[:2], id)
	}
	return "/repo/" + typ + "/" + id, file
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
