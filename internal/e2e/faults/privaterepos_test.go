package faults

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// Encoded ways out of /alice/ on a remote whose rclone encoding has no
// rules of its own (encoding=None; the defaults of drive, swift, zoho and
// qingstor lack some too): rclone turns fullwidth ．．and ／ into .. and /
// there, and an overlong %c0%ae is no UTF-8 at all. Each prefix, followed
// by /config or /keys/…, would name bob's repository (or one outside the
// served root) on the remote.
var escapes = []struct{ name, prefix string }{
	{"fullwidth ..", "/alice/%EF%BC%8E%EF%BC%8E/bob/secretproj"},
	{"fullwidth / and ..", "/alice/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fbob/secretproj"},
	{"fullwidth / first", "/alice/%EF%BC%8F..%EF%BC%8Fbob/secretproj"},
	{"fullwidth .. twice, out of the root", "/alice/%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/outside"},
	{"fullwidth .. in bob's own name", "/alice/%EF%BC%8E%EF%BC%8E/%EF%BD%82ob/secretproj"},
	{"quoted fullwidth ..", "/alice/%E2%80%9B%EF%BC%8E%E2%80%9B%EF%BC%8E/bob/secretproj"},
	{"overlong UTF-8 ..", "/alice/%c0%ae%c0%ae/bob/secretproj"},
	{"invalid UTF-8", "/alice/%ff%fe/bob/secretproj"},
	{"control picture NUL", "/alice/a%E2%90%80b/bob/secretproj"},
	{"fullwidth name of alice", "/%EF%BD%81lice/%EF%BC%8E%EF%BC%8E/bob/secretproj"},
}

// With --private-repos alice reaches only /alice/…: no encoded path
// reads, lists, deletes or writes bob's objects, or any outside the
// served root; every such path is a bad request, and nothing changes.
func TestPrivateReposEncodedEscapes(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := []byte("outside the served root")
	if err := os.WriteFile(filepath.Join(outside, "config"), secret, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startSteadyrest(t, fmt.Sprintf(":local,encoding=None:%s", root), t.TempDir(), "127.0.0.1:0", nil,
		"--htpasswd", writeHtpasswd(t, alice, bob), "--private-repos")

	config, key := []byte("bob's config"), []byte("bob's key")
	sum := sha256.Sum256(key)
	keyID := hex.EncodeToString(sum[:])
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/bob/secretproj/?create=true", as: bob}, 200)
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/bob/secretproj/config", as: bob, body: config}, 200)
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/bob/secretproj/keys/" + keyID, as: bob, body: key}, 200)
	mustSend(t, srv.Addr, rawRequest{method: "POST", target: "/alice/?create=true", as: alice}, 200)

	mine := []byte("alice's")
	mineSum := sha256.Sum256(mine)
	mineID := hex.EncodeToString(mineSum[:])
	for _, esc := range escapes {
		for _, rq := range []rawRequest{
			{method: "GET", target: esc.prefix + "/config"},
			{method: "HEAD", target: esc.prefix + "/config"},
			{method: "GET", target: esc.prefix + "/keys/"},
			{method: "GET", target: esc.prefix + "/keys/" + keyID},
			{method: "DELETE", target: esc.prefix + "/keys/" + keyID},
			{method: "DELETE", target: esc.prefix + "/config"},
			{method: "POST", target: esc.prefix + "/keys/" + mineID, body: mine},
			{method: "POST", target: esc.prefix + "/?create=true"},
		} {
			rq.as = alice
			status, b, err := exchange(srv.Addr, rq)
			if err != nil || status != http.StatusBadRequest {
				t.Errorf("%s: %s %s: %d %q %v, want 400", esc.name, rq.method, rq.target, status, b, err)
			}
		}
	}

	for p, want := range map[string][]byte{
		filepath.Join(root, "bob", "secretproj", "config"):      config,
		filepath.Join(root, "bob", "secretproj", "keys", keyID): key,
		filepath.Join(outside, "config"):                        secret,
	} {
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the attempts: %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{
		filepath.Join(root, "bob", "secretproj", "keys", mineID),
		filepath.Join(outside, "keys"),
	} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s was written (stat: %v)", p, err)
		}
	}
	if b := mustSend(t, srv.Addr, rawRequest{method: "GET", target: "/bob/secretproj/keys/" + keyID, as: bob}, 200); !bytes.Equal(b, key) {
		t.Errorf("bob reads his key as %q", b)
	}
}
