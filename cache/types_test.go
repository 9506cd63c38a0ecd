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
