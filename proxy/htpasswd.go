package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Authenticator checks HTTP Basic credentials.
type Authenticator interface {
	Authenticate(user, pass string) bool
}

const (
	// htpasswdCheckEvery bounds how often the file is stat'ed for changes.
	htpasswdCheckEvery = time.Second
	// authCacheTTL is how long a successful check is remembered. bcrypt
	// costs tens of milliseconds per call; restic makes many requests per
	// second, so without this cache the CPU goes to bcrypt (rest-server
	// issue 133).
	authCacheTTL = 5 * time.Minute
	// authCacheMax bounds the cache; one entry per user and password.
	authCacheMax = 1024
)

// maxBcryptCost is the highest bcrypt cost accepted (Apache's limit).
const maxBcryptCost = 17

type credential struct {
	bcrypt []byte // a bcrypt hash, or nil
	sha1   []byte // a raw SHA-1 digest, or nil
}

type cacheKey struct {
	user string
	pass [sha256.Size]byte
}

// Htpasswd authenticates against an Apache htpasswd file with bcrypt or
// {SHA} entries. The file is reloaded when its size or mtime changes.
type Htpasswd struct {
	path string
	log  *slog.Logger
	now  func() time.Time // for tests

	mu        sync.Mutex
	users     map[string]credential
	modTime   time.Time
	size      int64
	lastCheck time.Time
	cache     map[cacheKey]time.Time // successful checks -> expiry
	dummy     []byte                 // bcrypt hash at the file's highest cost, for unknown users
}

// LoadHtpasswd reads path. A missing or unreadable file is an error; bad
// lines are skipped with a warning.
func LoadHtpasswd(path string, log *slog.Logger) (*Htpasswd, error) {
	if log == nil {
		log = slog.Default()
	}
	h := &Htpasswd{path: path, log: log, now: time.Now, cache: map[cacheKey]time.Time{}}
	if err := h.reload(); err != nil {
		return nil, err
	}
	h.lastCheck = h.now()
	return h, nil
}

// Close releases the Htpasswd. Changes are detected on use, so there is no
// goroutine to stop; Close exists so that a watcher can be added later
// without changing callers.
func (h *Htpasswd) Close() error { return nil }

// Reload reads the file now (SIGHUP).
func (h *Htpasswd) Reload() error { h.mu.Lock(); defer h.mu.Unlock(); return h.reload() }

// reload reads the file; h.mu must be held (or h not yet shared).
func (h *Htpasswd) reload() error {
	f, err := os.Open(h.path)
	if err != nil {
		return fmt.Errorf("open htpasswd: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat htpasswd: %w", err)
	}
	users := map[string]credential{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		if !ok || user == "" || hash == "" {
			h.log.Warn("htpasswd: skipping malformed line", "file", h.path, "line", line)
			continue
		}
		c, ok := parseCredential(hash)
		if !ok {
			// Never log the hash itself: it is a secret too.
			h.log.Warn("htpasswd: skipping line with unsupported hash format (use bcrypt or {SHA})",
				"file", h.path, "line", line, "user", user)
			continue
		}
		if _, dup := users[user]; dup {
			h.log.Warn("htpasswd: duplicate user, the later line wins", "file", h.path, "line", line, "user", user)
		}
		users[user] = c
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read htpasswd %s after line %d: %w", h.path, line, err)
	}
	h.users = users
	h.dummy = dummyHash(users)
	h.modTime = st.ModTime()
	h.size = st.Size()
	clear(h.cache)
	h.log.Info("htpasswd loaded", "file", h.path, "users", len(users))
	return nil
}

// dummyHash makes a bcrypt hash as costly as the dearest one in the file,
// or nil when the file holds no bcrypt entries.
func dummyHash(users map[string]credential) []byte {
	cost := 0
	for _, c := range users {
		if c.bcrypt != nil {
			if n, err := bcrypt.Cost(c.bcrypt); err == nil && n > cost {
				cost = n
			}
		}
	}
	if cost == 0 {
		return nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte("steadyrest: no such user"), cost)
	if err != nil {
		return nil
	}
	return h
}

func parseCredential(hash string) (credential, bool) {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		// Apache's htpasswd makes costs 4 to 17. A higher cost is a typo
		// or an attack on the server: cost 31 takes days per check, and
		// the unknown-user dummy hash is made at the file's highest cost,
		// so one such line would hang the start.
		if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost > maxBcryptCost {
			return credential{}, false
		}
		return credential{bcrypt: []byte(hash)}, true
	case strings.HasPrefix(hash, "{SHA}"):
		sum, err := base64.StdEncoding.DecodeString(hash[len("{SHA}"):])
		if err != nil || len(sum) != sha1.Size {
			return credential{}, false
		}
		return credential{sha1: sum}, true
	}
	return credential{}, false
}

// maybeReload reloads the file when it changed; at most one stat per
// htpasswdCheckEvery. h.mu must be held. A failed reload keeps the old
// users: a half-written file during an edit must not lock everybody out.
func (h *Htpasswd) maybeReload() {
	now := h.now()
	if now.Sub(h.lastCheck) < htpasswdCheckEvery {
		return
	}
	h.lastCheck = now
	st, err := os.Stat(h.path)
	if err != nil {
		h.log.Warn("htpasswd: cannot stat file, keeping the loaded users", "file", h.path, "err", err)
		return
	}
	if st.ModTime().Equal(h.modTime) && st.Size() == h.size {
		return
	}
	if err := h.reload(); err != nil {
		h.log.Warn("htpasswd: reload failed, keeping the loaded users", "err", err)
	}
}

// Authenticate reports whether user and pass match the file.
func (h *Htpasswd) Authenticate(user, pass string) bool {
	key := cacheKey{user: user, pass: sha256Sum(pass)}

	h.mu.Lock()
	h.maybeReload()
	now := h.now()
	if exp, ok := h.cache[key]; ok {
		if now.Before(exp) {
			h.mu.Unlock()
			return true
		}
		delete(h.cache, key)
	}
	c, ok := h.users[user]
	dummy := h.dummy
	h.mu.Unlock()
	if !ok {
		// Spend a bcrypt anyway, so that response time does not tell
		// which user names exist.
		if dummy != nil {
			_ = bcrypt.CompareHashAndPassword(dummy, []byte(pass))
		}
		return false
	}

	// The slow compare runs without the lock so that other users are not
	// serialised behind one bcrypt.
	var good bool
	switch {
	case c.bcrypt != nil:
		good = bcrypt.CompareHashAndPassword(c.bcrypt, []byte(pass)) == nil
	case c.sha1 != nil:
		sum := sha1.Sum([]byte(pass))
		good = subtle.ConstantTimeCompare(sum[:], c.sha1) == 1
	}
	if !good {
		return false
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	// Only remember the success if the file was not reloaded meanwhile with
	// a different credential for this user.
	if cur, ok := h.users[user]; !ok || !sameCredential(cur, c) {
		return good
	}
	if len(h.cache) >= authCacheMax {
		h.evict(now)
	}
	h.cache[key] = now.Add(authCacheTTL)
	return true
}

func sameCredential(a, b credential) bool {
	return bytes.Equal(a.bcrypt, b.bcrypt) && bytes.Equal(a.sha1, b.sha1)
}

// evict drops expired entries, and everything if that was not enough: a
// full cache only costs some bcrypt runs until it fills again.
func (h *Htpasswd) evict(now time.Time) {
	for k, exp := range h.cache {
		if !now.Before(exp) {
			delete(h.cache, k)
		}
	}
	if len(h.cache) >= authCacheMax {
		clear(h.cache)
	}
}

func sha256Sum(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
