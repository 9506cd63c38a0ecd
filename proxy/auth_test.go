package proxy

import (
	"net/http"
	"testing"
)

// onePassword lets in one user with one password.
type onePassword struct{ user, pass string }

func (o onePassword) Authenticate(user, pass string) bool { return user == o.user && pass == o.pass }

// A request refused by authentication or by the private-repository rule is
// observed (it shows in the request metrics) but names no repository or
// type: a stranger must not be able to add metric labels.
func TestRefusedRequestsHaveNoLabels(t *testing.T) {
	auth := writeHtpasswd(t, shaLine("alice", "apw"), shaLine("bob", "bpw"))
	e := newEnv(t, "memory", Options{Auth: auth, PrivateRepos: true})
	for _, c := range []struct{ path, user, pass string }{
		{"/alice/config", "", ""},
		{"/alice/data/", "alice", "wrong"},
		{"/alice/snapshots/", "bob", "bpw"},
	} {
		if r := doReq(t, e.srv.URL, http.MethodGet, c.path, nil, c.user, c.pass); r.status != http.StatusUnauthorized {
			t.Fatalf("GET %s as %q: %d, want 401", c.path, c.user, r.status)
		}
	}
	infos := e.infos.All()
	if len(infos) != 3 {
		t.Fatalf("observed %d requests, want 3", len(infos))
	}
	for i, want := range []string{"", "", "bob"} {
		ri := infos[i]
		if ri.Status != http.StatusUnauthorized || ri.Repo != "" || ri.Type != "" || ri.List || ri.User != want {
			t.Errorf("request %d observed as %+v, want a bare 401 by %q", i, ri, want)
		}
	}
}
