package proxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// countingAuth lets in one user and password, and counts the checks.
type countingAuth struct {
	onePassword
	checks atomic.Int64
	gate   chan struct{} // when set, each check waits for a token
	inside atomic.Int64
	most   atomic.Int64
}

func (c *countingAuth) Authenticate(user, pass string) bool {
	c.checks.Add(1)
	n := c.inside.Add(1)
	defer c.inside.Add(-1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	if c.gate != nil {
		<-c.gate
	}
	return c.onePassword.Authenticate(user, pass)
}

// remembering is countingAuth with a cache of its successes, like Htpasswd.
type remembering struct {
	*countingAuth
	mu   sync.Mutex
	seen map[string]bool
}

func (r *remembering) remembers(user, pass string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[user+":"+pass]
}

func (r *remembering) Authenticate(user, pass string) bool {
	ok := r.countingAuth.Authenticate(user, pass)
	if ok {
		r.mu.Lock()
		r.seen[user+":"+pass] = true
		r.mu.Unlock()
	}
	return ok
}

func newTestLimiter(auth Authenticator, logs *testutil.Buffer, clk *fakeClock) *limiter {
	l := LimitLogins(auth, slog.New(slog.NewTextHandler(logs, nil))).(*limiter)
	l.now = clk.now
	return l
}

func requestFrom(remote string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/r/config", nil)
	r.RemoteAddr = remote
	return r
}

// Failed logins from an address make that user there wait, doubling; the
// waiting client is refused without a check, even with the right
// password; other addresses and other users are not held up until the
// address as a whole has failed freeAddressFailures times.
func TestLimiterBackoff(t *testing.T) {
	auth := &remembering{countingAuth: &countingAuth{onePassword: onePassword{"alice", "apw"}}, seen: map[string]bool{}}
	var logs testutil.Buffer
	clk := &fakeClock{t: time.Now()}
	l := newTestLimiter(auth, &logs, clk)
	mallory := requestFrom("192.0.2.7:4000")
	if st, _ := l.check(requestFrom("192.0.2.7:1"), "alice", "apw"); st != 0 {
		t.Fatalf("alice refused: %d", st)
	}
	for i := range freeFailures {
		if st, _ := l.check(mallory, "alice", fmt.Sprint("guess", i)); st != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, st)
		}
	}
	checks := auth.checks.Load()
	st, wait := l.check(mallory, "alice", "apw")
	if st != http.StatusTooManyRequests || wait != backoffBase {
		t.Fatalf("after %d failures: %d wait %v, want 429 wait %v", freeFailures, st, wait, backoffBase)
	}
	if auth.checks.Load() != checks {
		t.Fatal("a client told to wait had its password checked")
	}
	// Another port of the same host is the same client; another host and
	// another user at the same host are not held up.
	if st, _ := l.check(requestFrom("192.0.2.7:5000"), "alice", "apw"); st != http.StatusTooManyRequests {
		t.Errorf("same address, other port: %d, want 429", st)
	}
	if st, _ := l.check(requestFrom("192.0.2.8:4000"), "alice", "apw"); st != 0 {
		t.Errorf("another address: %d, want 0", st)
	}
	if st, _ := l.check(mallory, "bob", "x"); st != http.StatusUnauthorized {
		t.Errorf("another user at the address: %d, want 401", st)
	}
	clk.add(backoffBase)
	if st, _ := l.check(mallory, "alice", "guess"); st != http.StatusUnauthorized {
		t.Fatalf("after the wait: %d, want a check (401)", st)
	}
	if st, wait := l.check(mallory, "alice", "apw"); st != http.StatusTooManyRequests || wait != 2*backoffBase {
		t.Fatalf("after one more failure: %d wait %v, want 429 wait %v", st, wait, 2*backoffBase)
	}
	// IPv6: the /64 is one client.
	for i := range freeFailures {
		l.check(requestFrom(fmt.Sprintf("[2001:db8::%x]:1", i)), "eve", "x")
	}
	if st, _ := l.check(requestFrom("[2001:db8::ffff]:1"), "eve", "x"); st != http.StatusTooManyRequests {
		t.Errorf("another address of the same /64: %d, want 429", st)
	}
	// Many users from one address: the address as a whole waits.
	spray := requestFrom("198.51.100.1:1")
	for i := range freeAddressFailures {
		l.check(spray, fmt.Sprint("user", i), "x")
	}
	if st, _ := l.check(spray, "alice", "apw"); st != http.StatusTooManyRequests {
		t.Errorf("after %d users failed at one address: %d, want 429", freeAddressFailures, st)
	}
	// A quiet address starts afresh.
	clk.add(backoffForget + time.Minute)
	if st, _ := l.check(mallory, "alice", "apw"); st != 0 {
		t.Errorf("after %v quiet: %d, want 0", backoffForget, st)
	}
	out := logs.String()
	for _, want := range []string{`msg="login failed" user=alice remote=192.0.2.7:4000 failures=1`, `msg="client backed off" user=alice remote=192.0.2.7:4000 wait=1s`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// The backoff's memory is bounded: an attacker with many addresses makes
// it forget the oldest.
func TestLimiterBackoffBounded(t *testing.T) {
	l := newTestLimiter(&countingAuth{}, &testutil.Buffer{}, &fakeClock{t: time.Now()})
	l.logs.SetBurst(0)
	for i := range backoffClients {
		l.check(requestFrom(fmt.Sprintf("10.%d.%d.1:1", i/256, i%256)), "u", "x")
	}
	if n := l.clients.Len(); n > backoffClients {
		t.Fatalf("%d clients remembered, bound %d", n, backoffClients)
	}
}

// At most the bound of password checks run at once; a login over it
// waits, then is refused with 503 (and counted against its address). A
// remembered login passes while all checkers are busy.
func TestLimiterBoundsConcurrentChecks(t *testing.T) {
	auth := &remembering{countingAuth: &countingAuth{onePassword: onePassword{"alice", "apw"}, gate: make(chan struct{})}, seen: map[string]bool{"alice:apw": true}}
	var logs testutil.Buffer
	l := newTestLimiter(auth, &logs, &fakeClock{t: time.Now()})
	l.wait = 50 * time.Millisecond
	slots := cap(l.slots)

	var wg sync.WaitGroup
	for i := range slots {
		wg.Go(func() { l.check(requestFrom(fmt.Sprintf("192.0.2.%d:1", i)), "mallory", "x") })
	}
	for auth.inside.Load() < int64(slots) {
		time.Sleep(time.Millisecond)
	}
	st, wait := l.check(requestFrom("192.0.2.200:1"), "mallory", "y")
	if st != http.StatusServiceUnavailable || wait <= 0 {
		t.Errorf("over the bound: %d wait %v, want 503 with a wait", st, wait)
	}
	if st, _ := l.check(requestFrom("192.0.2.201:1"), "alice", "apw"); st != 0 {
		t.Errorf("a remembered login while the checkers are busy: %d", st)
	}
	close(auth.gate)
	wg.Wait()
	if m := auth.most.Load(); m > int64(slots) {
		t.Errorf("%d checks ran at once, bound %d", m, slots)
	}
	if !strings.Contains(logs.String(), `msg="login refused: too many password checks at once" user=mallory remote=192.0.2.200:1`) {
		t.Errorf("the refusal is not logged:\n%s", logs.String())
	}
}

// Failed logins are logged at most failLogBurst at once; the next line
// says how many were left out.
func TestLimiterLogIsRateLimited(t *testing.T) {
	var logs testutil.Buffer
	clk := &fakeClock{t: time.Now()}
	l := newTestLimiter(&countingAuth{}, &logs, clk)
	for i := range failLogBurst + 30 {
		l.check(requestFrom(fmt.Sprintf("10.0.%d.%d:1", i/200, i%200)), "u", "x")
	}
	if n := strings.Count(logs.String(), `msg="login failed"`); n != failLogBurst {
		t.Fatalf("%d failures logged at once, want %d", n, failLogBurst)
	}
	clk.add(time.Second)
	l.check(requestFrom("10.9.9.9:1"), "u", "x")
	if !strings.Contains(logs.String(), "unlogged_before=30") {
		t.Errorf("the next line does not count the left-out ones:\n%s", tail(logs.String(), 3))
	}
}

// login answers each refusal with its status and headers.
func TestLoginStatuses(t *testing.T) {
	l := newTestLimiter(&countingAuth{onePassword: onePassword{"alice", "apw"}}, &testutil.Buffer{}, &fakeClock{t: time.Now()})
	h := Guard(l, AnyUser, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	do := func(pass string) *httptest.ResponseRecorder {
		r := requestFrom("192.0.2.1:1")
		r.SetBasicAuth("alice", pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("apw"); w.Code != http.StatusTeapot {
		t.Fatalf("right password: %d", w.Code)
	}
	for range freeFailures {
		if w := do("x"); w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != authChallenge {
			t.Fatalf("wrong password: %d %v", w.Code, w.Header())
		}
	}
	if w := do("apw"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("backed off: %d Retry-After %q, want 429 and 1", w.Code, w.Header().Get("Retry-After"))
	}
}
