package testutil

import (
	"testing"
	"time"
)

// PollEvery is how often Until and Eventually ask their condition.
const PollEvery = 10 * time.Millisecond

// Until asks cond every PollEvery until it holds, and reports whether it
// did before within passed (cond is asked at least once). The bound keeps
// a liveness check finite; it is not a speed assertion.
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(PollEvery)
	}
	return true
}

// Eventually is Until that fails the test ("what: not within d") when
// cond does not hold within d; it returns how long cond took to hold. Call
// it from the test's goroutine, as t.Fatal requires.
func Eventually(t testing.TB, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	if !Until(within, cond) {
		t.Fatalf("%s: not within %v", what, within)
	}
	return time.Since(start)
}
