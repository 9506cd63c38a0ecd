package proxy

import "testing"

func TestStaticUserAndAnyAuth(t *testing.T) {
	u := StaticUser("alice", "secret")
	if !u.Authenticate("alice", "secret") {
		t.Error("the right user and password are refused")
	}
	for _, c := range [][2]string{{"alice", "secre"}, {"alice", "secret2"}, {"bob", "secret"}, {"", ""}} {
		if u.Authenticate(c[0], c[1]) {
			t.Errorf("%q/%q let in", c[0], c[1])
		}
	}
	if AnyAuth(nil, nil) != nil {
		t.Error("AnyAuth of nothing is not nil (no authentication)")
	}
	both := AnyAuth(u, StaticUser("bob", "pw"), nil)
	if !both.Authenticate("alice", "secret") || !both.Authenticate("bob", "pw") || both.Authenticate("bob", "secret") {
		t.Error("AnyAuth does not let in exactly the users of its parts")
	}
}

// AnyAuth remembers what its htpasswd part remembers, so that the guard
// lets a logged-in user of the file past the bound on checks.
func TestAnyAuthRemembers(t *testing.T) {
	h := writeHtpasswd(t, shaLine("sam", "spw"))
	both := AnyAuth(StaticUser("alice", "secret"), h).(rememberer)
	if both.remembers("sam", "spw") {
		t.Fatal("remembers a login that never happened")
	}
	if !h.Authenticate("sam", "spw") || !both.remembers("sam", "spw") {
		t.Fatal("does not remember the file's login")
	}
	if both.remembers("alice", "secret") {
		t.Error("remembers the static user, which is not cached")
	}
}
