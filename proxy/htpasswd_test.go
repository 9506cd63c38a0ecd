package proxy

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func bcryptLine(t *testing.T, user, pass, prefix string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// x/crypto writes $2a$; $2b$ and $2y$ are the same algorithm.
	return user + ":" + prefix + string(h[4:])
}

func shaLine(user, pass string) string {
	sum := sha1.Sum([]byte(pass))
	return user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock drives reload checks and cache expiry without sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func writeFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHtpasswdFormats(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	writeFile(t, path,
		"# a comment",
		"",
		bcryptLine(t, "alice", "apw", "$2a$"),
		bcryptLine(t, "bob", "bpw", "$2b$"),
		bcryptLine(t, "yvonne", "ypw", "$2y$"),
		shaLine("sam", "spw"),
		"mallory:$apr1$abc$defghijklmnopqrstuvw", // MD5-apr1: unsupported
		"plain:secret",                           // plain text: unsupported
		"nocolon",
		":nouser",
		"carl:{SHA}not-base64!",
		"dora:$2a$broken",
		"\x00\xff:garbage",
	)
	var logs syncBuf
	h, err := LoadHtpasswd(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("LoadHtpasswd: %v", err)
	}
	defer h.Close()

	for _, c := range []struct {
		user, pass string
		want       bool
	}{
		{"alice", "apw", true},
		{"alice", "apw", true}, // from the cache
		{"alice", "wrong", false},
		{"bob", "bpw", true},
		{"yvonne", "ypw", true},
		{"sam", "spw", true},
		{"sam", "spW", false},
		{"sam", "", false},
		{"mallory", "abc", false},
		{"plain", "secret", false},
		{"carl", "x", false},
		{"dora", "x", false},
		{"nobody", "apw", false},
		{"", "", false},
	} {
		if got := h.Authenticate(c.user, c.pass); got != c.want {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", c.user, c.pass, got, c.want)
		}
	}
	out := logs.String()
	for _, line := range []string{"line=7", "line=8", "line=9", "line=10", "line=11", "line=12", "line=13"} {
		if !strings.Contains(out, line) {
			t.Errorf("no warning naming %s in logs:\n%s", line, out)
		}
	}
	if strings.Contains(out, "secret") || strings.Contains(out, "$apr1$") {
		t.Errorf("logs leak a password or hash:\n%s", out)
	}
}

func TestHtpasswdMissingFile(t *testing.T) {
	if _, err := LoadHtpasswd(filepath.Join(t.TempDir(), "none"), nil); err == nil {
		t.Fatal("LoadHtpasswd of a missing file succeeded")
	}
}

func TestHtpasswdReloadAndCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	writeFile(t, path, bcryptLine(t, "alice", "old", "$2y$"), shaLine("sam", "spw"))
	h, err := LoadHtpasswd(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	clk := &fakeClock{t: time.Now()}
	h.mu.Lock()
	h.now = clk.now
	h.lastCheck = clk.now()
	h.mu.Unlock()

	if !h.Authenticate("alice", "old") {
		t.Fatal("alice/old refused")
	}
	h.mu.Lock()
	cached := len(h.cache)
	h.mu.Unlock()
	if cached != 1 {
		t.Fatalf("cache holds %d entries after one success, want 1", cached)
	}
	if h.Authenticate("alice", "bad") {
		t.Fatal("alice/bad accepted")
	}
	h.mu.Lock()
	cached = len(h.cache)
	h.mu.Unlock()
	if cached != 1 {
		t.Fatalf("a failure was cached: %d entries", cached)
	}

	// Change the password; make sure the mtime or size differs.
	writeFile(t, path, bcryptLine(t, "alice", "new-password", "$2y$"))
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	// Within the check interval the old file still rules (and the cache).
	if !h.Authenticate("alice", "old") {
		t.Fatal("alice/old refused before the check interval passed")
	}
	clk.add(2 * time.Second)
	if h.Authenticate("alice", "old") {
		t.Fatal("old password still accepted after reload: cache not cleared")
	}
	if !h.Authenticate("alice", "new-password") {
		t.Fatal("new password refused after reload")
	}
	if h.Authenticate("sam", "spw") {
		t.Fatal("removed user sam still accepted")
	}

	// A file that disappears keeps the loaded users.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clk.add(2 * time.Second)
	if !h.Authenticate("alice", "new-password") {
		t.Fatal("users lost when the file went missing")
	}

	// Cache entries expire.
	h.mu.Lock()
	n := len(h.cache)
	h.mu.Unlock()
	if n != 1 {
		t.Fatalf("cache holds %d entries, want 1", n)
	}
	clk.add(authCacheTTL + time.Second)
	if !h.Authenticate("alice", "new-password") {
		t.Fatal("refused after cache expiry")
	}
	h.mu.Lock()
	exp := h.cache[cacheKey{user: "alice", pass: sha256Sum("new-password")}]
	h.mu.Unlock()
	if !exp.After(clk.now()) {
		t.Fatalf("cache entry was not renewed: expires %v, now %v", exp, clk.now())
	}
}

func TestHtpasswdCacheBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeFile(t, path, shaLine("sam", "spw"))
	h, err := LoadHtpasswd(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// Fill the cache with other keys and check it never grows past its bound.
	h.mu.Lock()
	for i := 0; i < authCacheMax; i++ {
		h.cache[cacheKey{user: "u", pass: sha256Sum(strings.Repeat("x", i))}] = h.now().Add(time.Hour)
	}
	h.mu.Unlock()
	if !h.Authenticate("sam", "spw") {
		t.Fatal("sam refused")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.cache) > authCacheMax {
		t.Fatalf("cache grew to %d entries, bound %d", len(h.cache), authCacheMax)
	}
	if _, ok := h.cache[cacheKey{user: "sam", pass: sha256Sum("spw")}]; !ok {
		t.Fatal("the new success was not cached after eviction")
	}
}

// BenchmarkHtpasswdCached shows what the cache saves: a cached check costs
// a SHA-256, an uncached one a full bcrypt.
func BenchmarkHtpasswdCached(b *testing.B) {
	path := filepath.Join(b.TempDir(), "htpasswd")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err := os.WriteFile(path, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	h, err := LoadHtpasswd(path, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !h.Authenticate("alice", "pw") {
			b.Fatal("refused")
		}
	}
}

// BenchmarkHtpasswdUncached is the cost the cache avoids per request.
func BenchmarkHtpasswdUncached(b *testing.B) {
	path := filepath.Join(b.TempDir(), "htpasswd")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err := os.WriteFile(path, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	h, err := LoadHtpasswd(path, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		h.mu.Lock()
		clear(h.cache)
		h.mu.Unlock()
		if !h.Authenticate("alice", "pw") {
			b.Fatal("refused")
		}
	}
}
