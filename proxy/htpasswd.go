package proxy

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
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

// cacheKey is the HMAC of a user and password under the Htpasswd's secret.
type cacheKey [sha256.Size]byte

// Htpasswd authenticates against an Apache htpasswd file (the schemes of
// parsePasswordHash). The file is reloaded when its size or mtime changes,
// and by Reload.
type Htpasswd struct {
	path string
	log  *slog.Logger
	now  func() time.Time // for tests
	// secret keys the cache: random per process, so that neither a memory
	// dump nor a timing of the map gives a plain hash of a password.
	secret []byte

	mu    sync.Mutex
	users map[string]*passwordHash
	// classes holds one line of each hash class of the file, in a fixed
	// order: every check hashes once per class (see verify).
	classes   []*passwordHash
	modTime   time.Time
	size      int64
	lastCheck time.Time
	cache     map[cacheKey]time.Time // successful checks -> expiry
}

// LoadHtpasswd reads path. A missing or unreadable file is an error; bad
// lines are skipped with a warning.
func LoadHtpasswd(path string, log *slog.Logger) (*Htpasswd, error) {
	if log == nil {
		log = slog.Default()
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("htpasswd cache secret: %w", err)
	}
	h := &Htpasswd{path: path, log: log, now: time.Now, secret: secret, cache: map[cacheKey]time.Time{}}
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

// Reload reads the file now (SIGHUP). On error the loaded users stay.
func (h *Htpasswd) Reload() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reload()
}

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
	users := map[string]*passwordHash{}
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
		ph, err := parsePasswordHash(hash)
		if err != nil {
			h.log.Warn("htpasswd: skipping line", "file", h.path, "line", line, "user", user, "err", err)
			continue
		}
		if _, dup := users[user]; dup {
			h.log.Warn("htpasswd: duplicate user, the later line wins", "file", h.path, "line", line, "user", user)
		}
		users[user] = ph
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read htpasswd %s after line %d: %w", h.path, line, err)
	}
	h.users = users
	h.classes = oneOfEachClass(users)
	h.modTime = st.ModTime()
	h.size = st.Size()
	clear(h.cache)
	h.log.Info("htpasswd loaded", "file", h.path, "users", len(users))
	return nil
}

// oneOfEachClass picks a line of every hash class in users, in class
// order (and by user name within one, so that a reload of the same file
// picks the same lines).
func oneOfEachClass(users map[string]*passwordHash) []*passwordHash {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	byClass := map[string]*passwordHash{}
	for _, u := range names {
		if _, ok := byClass[users[u].class]; !ok {
			byClass[users[u].class] = users[u]
		}
	}
	out := make([]*passwordHash, 0, len(byClass))
	for _, ph := range byClass {
		out = append(out, ph)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].class < out[j].class })
	return out
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

// remembers reports, at the cost of an HMAC, whether user logged in with
// pass within authCacheTTL (and the file has not changed since).
func (h *Htpasswd) remembers(user, pass string) bool {
	key := h.cacheKey(user, pass)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maybeReload()
	return h.cached(key)
}

// cached looks key up, dropping it when expired; h.mu must be held.
func (h *Htpasswd) cached(key cacheKey) bool {
	exp, ok := h.cache[key]
	if ok && !h.now().Before(exp) {
		delete(h.cache, key)
		ok = false
	}
	return ok
}

// Authenticate reports whether user and pass match the file.
func (h *Htpasswd) Authenticate(user, pass string) bool {
	key := h.cacheKey(user, pass)
	h.mu.Lock()
	h.maybeReload()
	if h.cached(key) {
		h.mu.Unlock()
		return true
	}
	ph, classes := h.users[user], h.classes
	h.mu.Unlock()

	// The slow hashes run without the lock so that other users are not
	// serialised behind one bcrypt.
	if !verify(ph, classes, pass) {
		return false
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	// Only remember the success if the file was not reloaded meanwhile
	// with another hash for this user.
	if cur, ok := h.users[user]; !ok || cur.hash != ph.hash {
		return true
	}
	now := h.now()
	if len(h.cache) >= authCacheMax {
		h.evict(now)
	}
	h.cache[key] = now.Add(authCacheTTL)
	return true
}

// verify checks pass against ph (nil: no such user). It hashes pass once
// for every class of the file, with ph for its own class and with another
// line of the class for the others, so that a check costs the same
// whether the user exists and whatever scheme the user's line has: the
// response time tells neither.
func verify(ph *passwordHash, classes []*passwordHash, pass string) bool {
	good := false
	for _, c := range classes {
		if ph != nil && c.class == ph.class {
			good = ph.MatchesPassword(pass)
		} else {
			_ = c.MatchesPassword(pass)
		}
	}
	return good
}

// cacheKey is HMAC-SHA256(secret, len(user) user pass): unambiguous for
// any user and password.
func (h *Htpasswd) cacheKey(user, pass string) cacheKey {
	m := hmac.New(sha256.New, h.secret)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(user)))
	m.Write(n[:])
	m.Write([]byte(user))
	m.Write([]byte(pass))
	var k cacheKey
	m.Sum(k[:0])
	return k
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
