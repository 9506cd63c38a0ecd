package main

import (
	"strings"
	"testing"
)

// /readyz says nothing while no other instance is seen, and names the
// count, in the right number, when some are.
func TestPeerText(t *testing.T) {
	if got := peerText(0); got != "" {
		t.Errorf("no peer: %q, want no warning", got)
	}
	for n, want := range map[int]string{1: "1 other steadyrest instance serves", 3: "3 other steadyrest instances serve"} {
		if got := peerText(n); !strings.HasPrefix(got, want) || !strings.Contains(got, "consistency guarantee does not hold") {
			t.Errorf("%d peers: %q, want it to start with %q and name the guarantee", n, got, want)
		}
	}
}
