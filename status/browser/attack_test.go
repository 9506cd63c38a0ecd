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
	"sync"
	"testing"

	"github.com/steadyrest/steadyrest/internal/e2e"
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

// Issue 21 item 3: any user asking for the config of made-up repositories
// made the status page keep ~6 KB each, forever. Now a 404 for a
// repository that does not exist keeps nothing, and the repositories that
// do exist get their own line up to the metrics' cap.
func TestStatusMemoryBounded(t *testing.T) {
	dir := t.TempDir()
	srv := e2e.StartServer(t, e2e.SteadyrestSpec(steadyrestBin, filepath.Join(dir, "remote"), filepath.Join(dir, "state"), "--no-request-log"))
	c := client{t: t, base: "http://" + srv.Addr}

	// More real repositories than the cap (metrics.MaxRepos, 100).
	const existing = 120
	for i := range existing {
		c.createRepo(fmt.Sprintf("hosts/h%03d", i))
	}
	before := c.heapInuse()

	// The attack: 20,000 configs of repositories that do not exist, from
	// 8 keep-alive connections on loopback.
	const attack, workers = 20000, 8
	var wg sync.WaitGroup
	codes := make([]map[int]int, workers)
	for w := range workers {
		codes[w] = map[int]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{}
			for i := w; i < attack; i += workers {
				resp, err := hc.Get(fmt.Sprintf("%s/alice/r%d/config", c.base, i))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[w][resp.StatusCode]++
			}
		}()
	}
	wg.Wait()
	for w := range workers {
		if len(codes[w]) != 1 || codes[w][http.StatusNotFound] == 0 {
			t.Errorf("worker %d got %v, want only 404s", w, codes[w])
		}
	}
	after := c.heapInuse()

	s := c.status()
	t.Logf("heap in use %.1f MB before the attack, %.1f MB after; the status page lists %d repositories", before/1e6, after/1e6, len(s.Repos))
	if len(s.Repos) != 100 {
		t.Errorf("status lists %d repositories, want the cap's 100 of the %d that exist", len(s.Repos), existing)
	}
	for _, r := range s.Repos {
		if strings.HasPrefix(r.Repo, "alice/") {
			t.Errorf("a repository that does not exist got a line: %s", r.Repo)
			break
		}
	}
	if s.OtherRepos == nil || s.OtherRepos.Requests != existing-100 {
		t.Errorf("other repositories: %+v, want the %d creations over the cap", s.OtherRepos, existing-100)
	}
	// ~6 KB per made-up repository grew the heap by 120 MB and more; a
	// bounded page leaves it where the garbage collector keeps it.
	if grew := after - before; grew > 64e6 {
		t.Errorf("the attack grew the heap in use by %.1f MB", grew/1e6)
	}
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

// Issue 21 item 6: the page and the API's answers say how a browser may
// use them: no framing, no type sniffing, and a Content-Security-Policy
// (the page's own style by its hash, nothing else).
func TestSecurityHeaders(t *testing.T) {
	dir := t.TempDir()
	srv := e2e.StartServer(t, e2e.SteadyrestSpec(steadyrestBin, filepath.Join(dir, "remote"), filepath.Join(dir, "state"), "--no-request-log"))
	c := client{t: t, base: "http://" + srv.Addr}
	c.createRepo("hosts/a")
	for _, path := range []string{"/status", "/status?format=json", "/hosts/a/config", "/hosts/a/keys/", "/nope/config", "/metrics", "/healthz"} {
		_, hdr, _ := c.get(path)
		if got := hdr.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", path, got)
		}
		if got := hdr.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", path, got)
		}
		csp := hdr.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if path == "/status" && !strings.Contains(csp, "style-src 'sha256-") {
			t.Errorf("%s: Content-Security-Policy %q does not allow the page's style by its hash", path, csp)
		}
	}
}
