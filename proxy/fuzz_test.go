package proxy

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rclone/rclone/lib/encoder"
	"github.com/steadyrest/steadyrest/overlay"
	"golang.org/x/crypto/bcrypt"
)

// Seeds live in testdata/fuzz/<FuzzName>/ and run with every go test; CI
// runs each target briefly with -fuzz (see SECURITY.md).

// FuzzParsePath feeds request targets through net/url the way net/http
// does, and also straight in as raw and decoded path, and checks that
// whatever parsePath accepts is safe to hand to the store.
func FuzzParsePath(f *testing.F) {
	f.Fuzz(func(t *testing.T, target string, depth int) {
		depth = 1 + abs(depth)%16
		if u, err := url.ParseRequestURI(target); err == nil {
			checkRoute(t, target, u.EscapedPath(), u.Path, depth)
		}
		checkRoute(t, target, target, target, depth)
	})
}

// rcloneEncodings are the encodings a remote can have: none (where
// rclone's own mapping of fullwidth ．．and ／ to .. and / comes through),
// each of rclone's rules alone, and all of them at once.
var rcloneEncodings = func() []encoder.MultiEncoder {
	all := (encoder.EncodeExclamation<<1 - 1) &^ encoder.EncodeRaw
	out := []encoder.MultiEncoder{encoder.EncodeZero, encoder.Standard, all}
	for rule := encoder.EncodeSlash; rule <= encoder.EncodeExclamation; rule <<= 1 {
		out = append(out, rule)
	}
	return out
}()

func abs(n int) int {
	if n < 0 {
		if n == math.MinInt {
			return 0
		}
		return -n
	}
	return n
}

func checkRoute(t *testing.T, target, raw, decoded string, depth int) {
	rt, err := parsePath(raw, decoded, depth)
	if err != nil {
		if !errors.Is(err, errBadPath) && !errors.Is(err, errTooDeep) {
			t.Fatalf("%q: unexpected error %v", target, err)
		}
		return
	}
	if len(rt.repo) > depth {
		t.Fatalf("%q: repository depth %d > %d", target, len(rt.repo), depth)
	}
	for _, s := range rt.repo {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") || !overlay.ValidRepoSegment(s) {
			t.Fatalf("%q: accepted repository segment %q", target, s)
		}
		for _, e := range rcloneEncodings {
			if there, back := e.FromStandardName(s), e.ToStandardName(s); there != s || back != s {
				t.Fatalf("%q: accepted repository segment %q is %q on a remote with encoding %v, and %q listed back", target, s, there, e, back)
			}
		}
	}
	if rp := rt.repoPath(); rp != "" && path.Clean("/"+rp) != "/"+rp {
		t.Fatalf("%q: repository path %q is not clean", target, rp)
	}
	// Every segment of the decoded path, not only the repository's.
	for _, s := range strings.Split(strings.Trim(decoded, "/"), "/") {
		if s == "." || s == ".." || strings.ContainsAny(s, "\\\x00") {
			t.Fatalf("%q: accepted segment %q", target, s)
		}
	}
	if strings.Contains(strings.ToLower(raw), "%2f") || strings.Contains(strings.ToLower(raw), "%25") {
		t.Fatalf("%q: accepted an encoded separator or percent", target)
	}
	switch rt.kind {
	case kindObject:
		if !overlay.IsHexID(rt.name) {
			t.Fatalf("%q: object name %q is not 64 lowercase hex", target, rt.name)
		}
		fallthrough
	case kindConfig:
		if err := (overlay.Handle{Repo: rt.repoPath(), Type: rt.typ, Name: rt.name}).Validate(); err != nil {
			t.Fatalf("%q: accepted a handle the store refuses: %v", target, err)
		}
	case kindDir:
		if _, ok := overlay.ParseType(string(rt.typ)); !ok || rt.typ == overlay.Config {
			t.Fatalf("%q: folder of type %q", target, rt.typ)
		}
	}
	if rt.kind != kindObject && rt.name != "" {
		t.Fatalf("%q: name %q on a %v route", target, rt.name, rt.kind)
	}
}

// FuzzParseRange checks that parseRange never panics, that what it accepts
// lies within the object, and that "malformed" does not depend on the size
// (get relies on that to refuse garbage before the lookup).
func FuzzParseRange(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1) // get never asks with a negative size
		}
		off, n, err := parseRange(h, size)
		_, _, errMax := parseRange(h, math.MaxInt64)
		if errors.Is(err, errRangeMalformed) != errors.Is(errMax, errRangeMalformed) {
			t.Fatalf("%q: malformed at size %d is %v, at max size %v", h, size, err, errMax)
		}
		if err != nil {
			if !errors.Is(err, errRangeMalformed) && !errors.Is(err, errRangeUnsatisfiable) {
				t.Fatalf("%q: unexpected error %v", h, err)
			}
			return
		}
		if off < 0 || n < 1 || off >= size || n > size-off {
			t.Fatalf("%q size %d: off %d len %d outside the object", h, size, off, n)
		}
	})
}

// FuzzHtpasswd loads a file of arbitrary lines plus one {SHA} line for
// user, and checks that loading and checking never panic (every check
// runs one hash of each class in the file), that every SHA-1 user
// accepted verifies exactly the passwords with that digest, and that the
// generated line works only with its own password.
func FuzzHtpasswd(f *testing.F) {
	f.Fuzz(func(t *testing.T, extra, user, secret, pass string) {
		for _, line := range strings.Split(extra, "\n") {
			_, hash, _ := strings.Cut(strings.TrimSpace(line), ":")
			// A real but slow hash costs seconds per check and teaches
			// nothing; above the limits the parser must skip it cheaply,
			// so those stay in.
			if ph, err := parsePasswordHash(hash); err == nil && dearClass(ph.class) {
				return
			}
		}
		sum := sha1.Sum([]byte(secret))
		line := user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
		file := filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(file, []byte(extra+"\n"+line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := LoadHtpasswd(file, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		defer h.Close()

		for u, c := range h.users {
			if u == "" || strings.ContainsAny(u, ":\n") {
				t.Fatalf("accepted user name %q", u)
			}
			if c.class != "sha1" {
				_ = h.Authenticate(u, pass) // must not panic
				continue
			}
			digest, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(c.hash, "{SHA}"))
			if err != nil {
				t.Fatalf("user %q: accepted a {SHA} line that is not base64", u)
			}
			ps := sha1.Sum([]byte(pass))
			want := bytes.Equal(ps[:], digest)
			if got := h.Authenticate(u, pass); got != want {
				t.Fatalf("user %q password %q: Authenticate %v, want %v", u, pass, got, want)
			}
		}
		// The generated line, if its user name survived parsing unchanged,
		// is the one that counts (it comes last, so it wins duplicates).
		c, ok := h.users[user]
		if !ok || c.hash != line[len(user)+1:] {
			return
		}
		if !h.Authenticate(user, secret) {
			t.Fatalf("user %q: the right password is refused", user)
		}
		ps := sha1.Sum([]byte(pass))
		if h.Authenticate(user, pass) != (ps == sum) {
			t.Fatalf("user %q: password %q (secret %q) verified wrongly", user, pass, secret)
		}
	})
}

// dearClass tells the hash classes that cost more than a few milliseconds
// a check.
func dearClass(class string) bool {
	var n int
	if _, err := fmt.Sscanf(class, "bcrypt-%d", &n); err == nil {
		return n > bcrypt.MinCost
	}
	for _, p := range []string{"sha256-crypt-%d", "sha512-crypt-%d"} {
		if _, err := fmt.Sscanf(class, p, &n); err == nil {
			return n > 5000
		}
	}
	return false
}
