package cache

import (
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

// A handle's key and splitKey agree: a stored key comes back as the
// folder and name the handle was built with, for every type.
func TestHandleKeyAndSplitKeyAgree(t *testing.T) {
	id := strings.Repeat("ab", 32)
	for _, repo := range []string{"", "r", "alice/proj"} {
		for _, typ := range Types {
			h := Handle{Repo: repo, Type: typ, Name: id}
			if typ == Config {
				h.Name = ""
			}
			k := h.key()
			dir, name, ok := splitKey(k.path)
			if !ok || dir != k.dir || name != k.name {
				t.Errorf("%s: key %+v, splitKey(%q) = %q, %q, %v", h, k, k.path, dir, name, ok)
			}
			if h.remotePath() != k.path {
				t.Errorf("%s: remotePath %q, key.path %q", h, h.remotePath(), k.path)
			}
		}
	}
	if got := (Handle{Repo: "r", Type: Data, Name: id}).key().path; got != "r/data/ab/"+id {
		t.Errorf("data object at %q, want it in its prefix folder", got)
	}
}
