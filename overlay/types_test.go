package overlay

import (
	"path"
	"strings"
	"testing"
)

func TestValidRepoSegment(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "Host-1.example_org": true, "alice@example.com": true, "a+b": true, "a..b": true,
		"-a": true, "_": true, strings.Repeat("x", 255): true,

		"": false, ".": false, "..": false, ".a": false, "a.": false, ReservedDir: false,
		strings.Repeat("x", 256): false, "data": false, "config": false,
		"my repo": false, "a/b": false, "a\\b": false, "a:b": false, "a%2e": false, "~a": false, "a\x00": false,
		"Müller": false, "．．": false, "a／b": false, "␀": false, "\xc0\xae": false, "ａ": false,
	} {
		if got := ValidRepoSegment(s); got != want {
			t.Errorf("ValidRepoSegment(%q) = %v, want %v", s, got, want)
		}
	}
}

// remotePath is where h's object lives below the remote root: for tests,
// which name objects by their Handle.
func (h Handle) remotePath() string { return h.key().path }

// keyOf is the place of a stored key a test names, which must be an
// object's.
func keyOf(key string) objectKey {
	k, ok := parseKey(key)
	if !ok {
		panic("not an object's key: " + key)
	}
	return k
}

// A handle's key and parseKey agree: a stored key comes back as the place
// the handle was built with, for every type; its folder and repository
// are the handle's.
func TestHandleKeyAndParseKeyAgree(t *testing.T) {
	id := strings.Repeat("ab", 32)
	for _, repo := range []string{"", "r", "alice/proj"} {
		for _, typ := range Types {
			h := Handle{Repo: repo, Type: typ, Name: id}
			if typ == Config {
				h.Name = ""
			}
			k := h.key()
			back, ok := parseKey(k.path)
			if !ok || back != k {
				t.Errorf("%s: key %+v, parseKey(%q) = %+v, %v", h, k, k.path, back, ok)
			}
			if k != keyIn(k.dir, k.name) {
				t.Errorf("%s: key %+v, keyIn(%q, %q) = %+v", h, k, k.dir, k.name, keyIn(k.dir, k.name))
			}
			if k.repo() != repo {
				t.Errorf("%s: repo %q", h, k.repo())
			}
			folder, prefixed := k.prefixFolder()
			switch {
			case typ == Data && (!prefixed || folder != path.Join(repo, "data", "ab")):
				t.Errorf("%s: prefix folder %q, %v", h, folder, prefixed)
			case typ != Data && prefixed:
				t.Errorf("%s: a prefix folder %q for a %s", h, folder, typ)
			case typ != Data && typ != Config && k.folder() != k.dir:
				t.Errorf("%s: folder %q, listed in %q", h, k.folder(), k.dir)
			}
		}
	}
	if got := (Handle{Repo: "r", Type: Data, Name: id}).key().path; got != "r/data/ab/"+id {
		t.Errorf("data object at %q, want it in its prefix folder", got)
	}
	// A stray object listed in data/ itself is in no prefix folder.
	if k, ok := parseKey("r/data/" + id); !ok || k.dir != "r/data" {
		t.Errorf("parseKey of a stray data object = %+v, %v", k, ok)
	} else if f, prefixed := k.prefixFolder(); prefixed {
		t.Errorf("a stray data object in prefix folder %q", f)
	}
}
