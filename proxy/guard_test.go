package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// One guard serves /metrics and /status: with private repositories only
// the user metrics gets in; without, any authenticated user.
func TestGuardOperator(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	auth := eitherUser{onePassword{"alice", "apw"}, onePassword{MetricsUser, "mpw"}}
	for _, c := range []struct {
		private    bool
		user, pass string
		want       int
	}{
		{false, "alice", "apw", http.StatusTeapot},
		{false, "alice", "wrong", http.StatusUnauthorized},
		{false, "", "", http.StatusUnauthorized},
		{true, "alice", "apw", http.StatusUnauthorized},
		{true, MetricsUser, "mpw", http.StatusTeapot},
		{true, MetricsUser, "wrong", http.StatusUnauthorized},
	} {
		r := httptest.NewRequest(http.MethodGet, "/status", nil)
		if c.user != "" {
			r.SetBasicAuth(c.user, c.pass)
		}
		w := httptest.NewRecorder()
		Guard(auth, Operator(c.private), inner).ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("private=%v %q: %d, want %d", c.private, c.user, w.Code, c.want)
		}
		if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") != authChallenge {
			t.Errorf("private=%v %q: 401 without the challenge header", c.private, c.user)
		}
	}
	// Without credentials to check there is no one to refuse.
	w := httptest.NewRecorder()
	Guard(nil, Operator(true), inner).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/status", nil))
	if w.Code != http.StatusTeapot {
		t.Errorf("no auth: %d", w.Code)
	}
}

// eitherUser lets in either of two users.
type eitherUser [2]onePassword

func (e eitherUser) Authenticate(user, pass string) bool {
	return e[0].Authenticate(user, pass) || e[1].Authenticate(user, pass)
}
