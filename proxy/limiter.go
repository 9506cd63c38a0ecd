package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

const (
	// freeFailures is how many failed logins a user has from one address
	// before it must wait: enough for a few typos.
	freeFailures = 5
	// freeAddressFailures is the same for all the users of an address
	// together: a few people behind one NAT may mistype, but one client
	// trying a password for each of many users is stopped too.
	freeAddressFailures = 20
	// backoffBase is the first wait; it doubles with each further
	// failure up to backoffMax.
	backoffBase = time.Second
	backoffMax  = time.Minute
	// backoffForget: an address without a failure for this long starts
	// afresh.
	backoffForget = 10 * time.Minute
	// backoffClients bounds the addresses remembered (about 100 bytes
	// each); the least recently failing is forgotten first.
	backoffClients = 10_000
	// checkWait is how long a login waits for a free password checker
	// before it is answered 503.
	checkWait = time.Second
	// failLogRate and failLogBurst bound the failed-login lines.
	failLogRate  = 10 // lines per second
	failLogBurst = 20
	// maxLoggedUser bounds the user name an attacker puts in the log.
	maxLoggedUser = 64
)

// A rememberer tells at no cost that it let user in with pass lately (the
// htpasswd cache): such logins pass without waiting for a checker.
type rememberer interface {
	remembers(user, pass string) bool
}

// client is whom a backoff applies to: a user at an address, or (all) every
// user at the address.
type client struct {
	addr netip.Prefix
	user string
	all  bool
}

// strikes are one client's recent failed logins.
type strikes struct {
	n     int
	last  time.Time
	until time.Time // refused without a check until then
}

// limiter is an Authenticator with the defences against password
// guessing: a bound on concurrent password checks, so that guesses cannot
// take every core from the users who are logged in, and a backoff per
// client address after failed logins, which are logged.
type limiter struct {
	auth  Authenticator
	log   *slog.Logger
	slots chan struct{} // one per concurrent password check
	wait  time.Duration
	now   func() time.Time

	mu       sync.Mutex
	clients  *lru.Cache[client, *strikes]
	logs     *rate.Limiter
	unlogged int // failures not logged since the last line
}

// LimitLogins wraps auth in the defences against password guessing; failed
// logins go to log (slog.Default() when nil). Wrap once and give the
// result to every endpoint, so that they share the bound and the backoff.
// LimitLogins of a limited Authenticator returns it; of nil, nil.
func LimitLogins(auth Authenticator, log *slog.Logger) Authenticator {
	if auth == nil {
		return nil
	}
	if l, ok := auth.(*limiter); ok {
		return l
	}
	if log == nil {
		log = slog.Default()
	}
	// Leave a core to the requests of logged-in users: a password check
	// takes one whole (bcrypt), and guesses arrive without end.
	slots := max(1, runtime.GOMAXPROCS(0)-1)
	clients, err := lru.New[client, *strikes](backoffClients)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &limiter{
		auth: auth, log: log, slots: make(chan struct{}, slots), wait: checkWait, now: time.Now,
		clients: clients, logs: rate.NewLimiter(failLogRate, failLogBurst),
	}
}

// Authenticate checks without knowing the client: only the bound on
// concurrent checks applies (waiting as long as it takes).
func (l *limiter) Authenticate(user, pass string) bool {
	if l.remembers(user, pass) {
		return true
	}
	l.slots <- struct{}{}
	return l.checkHeld(user, pass)
}

// checkHeld checks with a checker taken, and gives it back.
func (l *limiter) checkHeld(user, pass string) bool {
	defer func() { <-l.slots }()
	return l.auth.Authenticate(user, pass)
}

func (l *limiter) remembers(user, pass string) bool {
	r, ok := l.auth.(rememberer)
	return ok && r.remembers(user, pass)
}

// check checks the credentials of r. It returns 0 when they are good,
// else the status to answer with: 401 for wrong ones, 429 while the
// client's address must wait after failures, 503 when no checker was free
// in time; with 429 and 503, the time to wait before retrying.
func (l *limiter) check(r *http.Request, user, pass string) (int, time.Duration) {
	addr := addrOf(r)
	// The backoff comes first, even for a remembered password: else a
	// client told to wait would learn at no cost which guess is right.
	if wait := l.waitFor(addr, user); wait > 0 {
		return http.StatusTooManyRequests, wait
	}
	if l.remembers(user, pass) {
		return 0, 0
	}
	if !l.acquire(r.Context()) {
		// Counted as a failure: a refusal without a check must not let a
		// client try guesses against the cache without limit.
		l.fail(r, addr, user, "login refused: too many password checks at once")
		return http.StatusServiceUnavailable, time.Second
	}
	if l.checkHeld(user, pass) {
		return 0, 0
	}
	l.fail(r, addr, user, "login failed")
	return http.StatusUnauthorized, 0
}

// acquire takes a checker, waiting at most l.wait.
func (l *limiter) acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// waitFor is how long user at addr must still wait before a check.
func (l *limiter) waitFor(addr netip.Prefix, user string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now, wait := l.now(), time.Duration(0)
	for _, c := range []client{{addr: addr, user: keyUser(user)}, {addr: addr, all: true}} {
		if s, ok := l.clients.Peek(c); ok {
			wait = max(wait, s.until.Sub(now))
		}
	}
	return wait
}

// fail counts a failed login of user at addr, starts or lengthens the
// backoff of the user there and of the address, and logs it
// (rate-limited).
func (l *limiter) fail(r *http.Request, addr netip.Prefix, user, msg string) {
	now := l.now()
	l.mu.Lock()
	n, wait := l.strike(client{addr: addr, user: keyUser(user)}, freeFailures, now)
	_, addrWait := l.strike(client{addr: addr, all: true}, freeAddressFailures, now)
	wait = max(wait, addrWait)
	logIt := l.logs.AllowN(now, 1)
	unlogged := l.unlogged
	if logIt {
		l.unlogged = 0
	} else {
		l.unlogged++
	}
	l.mu.Unlock()

	if !logIt {
		return
	}
	attrs := []any{"user", loggedUser(user), "remote", remoteOf(r), "failures", n}
	if unlogged > 0 {
		attrs = append(attrs, "unlogged_before", unlogged)
	}
	l.log.Warn(msg, attrs...)
	if wait > 0 {
		l.log.Warn("client backed off", "user", loggedUser(user), "remote", remoteOf(r), "wait", wait)
	}
}

// strike counts a failure of c and returns its failures and the backoff
// it starts (0: none yet); l.mu must be held.
func (l *limiter) strike(c client, free int, now time.Time) (int, time.Duration) {
	s, ok := l.clients.Get(c)
	if !ok || now.Sub(s.last) > backoffForget {
		s = &strikes{}
		l.clients.Add(c, s)
	}
	s.n++
	s.last = now
	if s.n < free {
		return s.n, 0
	}
	wait := backoffMax
	if shift := s.n - free; shift < 7 { // 2^6 s > backoffMax
		wait = min(backoffBase<<shift, backoffMax)
	}
	s.until = now.Add(wait)
	return s.n, wait
}

// addrOf is the address a backoff applies to: the peer's, its /64 for
// IPv6 (one host holds a whole /64), and one for all the peers of a unix
// socket.
func addrOf(r *http.Request) netip.Prefix {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

func remoteOf(r *http.Request) string {
	if isUnixPeer(r) {
		return "unix"
	}
	return r.RemoteAddr
}

// keyUser bounds the memory a user name takes in the backoff LRU: names
// alike in their first maxLoggedUser bytes share one backoff.
func keyUser(user string) string {
	return user[:min(len(user), maxLoggedUser)]
}

// loggedUser shortens and cleans a user name an attacker chose.
func loggedUser(user string) string {
	if len(user) > maxLoggedUser {
		user = user[:maxLoggedUser] + "…"
	}
	return strings.ToValidUTF8(user, "?")
}

// isUnixPeer reports whether r came over a unix socket.
func isUnixPeer(r *http.Request) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && (la.Network() == "unix" || la.Network() == "unixpacket")
}
