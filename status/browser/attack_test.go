package browser

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/steadyrest/steadyrest/e2e"
)

// client talks to one running server as one user ("" sends no credentials).
type client struct {
	t          *testing.T
	base       string
	user, pass string
}

func (c client) do(method, path string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// get answers the status code, the headers and the body of a GET.
func (c client) get(path string) (int, http.Header, string) {
	c.t.Helper()
	resp := c.do(http.MethodGet, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func (c client) createRepo(repo string) {
	c.t.Helper()
	resp := c.do(http.MethodPost, "/"+repo+"/?create=true")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("create /%s as %q: %d", repo, c.user, resp.StatusCode)
	}
}

// statusJSON is the part of /status?format=json these tests read.
type statusJSON struct {
	Repos []struct {
		Repo string `json:"repo"`
	} `json:"repos"`
	OtherRepos *struct {
		Requests int `json:"requests_last_hour"`
	} `json:"other_repos"`
}

func (c client) status() statusJSON {
	c.t.Helper()
	code, _, body := c.get("/status?format=json")
	var s statusJSON
	if err := json.Unmarshal([]byte(body), &s); code != http.StatusOK || err != nil {
		c.t.Fatalf("/status?format=json as %q: %d %v\n%.2000s", c.user, code, err, body)
	}
	return s
}

// heapInuse reads go_memstats_heap_inuse_bytes from the server's /metrics.
func (c client) heapInuse() float64 {
	c.t.Helper()
	code, _, body := c.get("/metrics")
	if code != http.StatusOK {
		c.t.Fatalf("/metrics: %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				c.t.Fatalf("heap_inuse %q: %v", v, err)
			}
			return f
		}
	}
	c.t.Fatal("no go_memstats_heap_inuse_bytes in /metrics")
	return 0
}

// htpasswd writes {SHA} lines (cheap to check, unlike bcrypt) for users
// whose password is their name reversed, and returns the file.
func htpasswd(t *testing.T, users ...string) string {
	t.Helper()
	var b strings.Builder
	for _, u := range users {
		sum := sha1.Sum([]byte(reverse(u)))
		fmt.Fprintf(&b, "%s:{SHA}%s\n", u, base64.StdEncoding.EncodeToString(sum[:]))
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// Issue 21 item 6: with --private-repos, /status named every user's
// repositories, the state dir and the remote's errors to any user. It now
// takes /metrics' rule: only the user "metrics" sees it.
func TestStatusPrivateRepos(t *testing.T) {
	dir := t.TempDir()
	srv := e2e.StartServer(t, e2e.SteadyrestSpec(steadyrestBin, filepath.Join(dir, "remote"), filepath.Join(dir, "state"),
		"--no-request-log", "--private-repos", "--htpasswd-file", htpasswd(t, "alice", "bob", "metrics")))
	as := func(user string) client {
		return client{t: t, base: "http://" + srv.Addr, user: user, pass: reverse(user)}
	}
	as("alice").createRepo("alice/laptop")
	as("bob").createRepo("bob/secret-project")

	for _, user := range []string{"alice", "bob", ""} {
		code, hdr, body := as(user).get("/status")
		switch {
		case code != http.StatusUnauthorized || strings.Contains(body, "secret-project") || strings.Contains(body, dir):
			t.Errorf("/status as %q: %d, want 401 and nothing of the page\n%.2000s", user, code, body)
		case hdr.Get("WWW-Authenticate") == "":
			t.Errorf("/status as %q: 401 without a challenge, so a browser cannot log in as metrics", user)
		}
	}
	code, _, body := as("metrics").get("/status")
	if code != http.StatusOK || !strings.Contains(body, "<td>/alice/laptop</td>") || !strings.Contains(body, "<td>/bob/secret-project</td>") {
		t.Errorf("/status as metrics: %d, want both repositories\n%s", code, body)
	}
	// Without --private-repos any user sees it, as before (one host, one
	// owner); the rule is /metrics' own.
	if code, _, _ := as("alice").get("/metrics"); code != http.StatusUnauthorized {
		t.Errorf("/metrics as alice with --private-repos: %d, want 401", code)
	}
}
