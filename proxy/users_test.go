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
