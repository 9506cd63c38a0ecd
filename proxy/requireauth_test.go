package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// onePassword lets in one user with one password.
type onePassword struct{ user, pass string }

func (o onePassword) Authenticate(user, pass string) bool { return user == o.user && pass == o.pass }

// RequireAuth guards endpoints beside the API (/metrics) with the API's
// credentials and challenge.
func TestRequireAuth(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := RequireAuth(onePassword{"alice", "apw"}, inner)
	for _, c := range []struct {
		user, pass string
		set        bool
		want       int
	}{
		{want: http.StatusUnauthorized},
		{user: "alice", pass: "wrong", set: true, want: http.StatusUnauthorized},
		{user: "alice", pass: "apw", set: true, want: http.StatusTeapot},
	} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if c.set {
			r.SetBasicAuth(c.user, c.pass)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%q/%q: status %d, want %d", c.user, c.pass, w.Code, c.want)
		}
		if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") != authChallenge {
			t.Errorf("401 without the challenge header: %q", w.Header().Get("WWW-Authenticate"))
		}
	}
	if RequireAuth(nil, inner) == nil {
		t.Fatal("RequireAuth(nil, h) returned nil")
	}
}
