package e2e

import (
	"testing"
	"time"
)

// TestResticRESTBackendSuite runs restic's own REST backend test suite
// against the server under test on a local folder.
func TestResticRESTBackendSuite(t *testing.T) {
	srv := startServer(t, t.TempDir())
	r := RunRESTSuite(t, srv.URL("suite"), 10*time.Minute)
	subs := r.Subtests()
	// The suite has well over 10 subtests; a much smaller count means the
	// run did not do what we think it did.
	if !r.Clean() || len(subs) < 10 {
		t.Fatalf("restic REST backend suite: err=%v, top-level passed=%v, %d subtests passed, failed=%v, skipped=%v (in %v)\n%s",
			r.Err, r.TopPassed, len(subs), r.Failed, r.Skipped, r.Elapsed, r.Out)
	}
	t.Logf("restic REST backend suite: %d subtests passed, 0 failed, 0 skipped, in %v", len(subs), r.Elapsed)
	for _, n := range subs {
		t.Logf("  PASS %s", n)
	}
}
