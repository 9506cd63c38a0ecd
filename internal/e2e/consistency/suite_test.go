package consistency

import (
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// TestSuiteLagging: restic's REST backend suite passes through steadyrest on
// a remote with 3s create and delete lag, and fails through rclone serve
// restic on the same kind of remote. The two run one after the other so
// that the 2 cores are not shared between them.
func TestSuiteLagging(t *testing.T) {
	t.Run("steadyrest", func(t *testing.T) {
		srv := startSteadyrest(t, testutil.LagSpec(t.TempDir(), "create_lag=3s", "delete_lag=3s"))
		r := e2e.RunRESTSuite(t, srv.URL("suite"), 5*time.Minute)
		subs := len(r.Subtests())
		if !r.Clean() || subs < 10 {
			t.Fatalf("suite through steadyrest on a lagging remote: err=%v top passed=%v, %d subtests passed, failed=%v skipped=%v (%v)\n%s",
				r.Err, r.TopPassed, subs, r.Failed, r.Skipped, r.Elapsed, r.Out)
		}
		t.Logf("steadyrest, lag 3s: %d subtests passed, 0 failed, 0 skipped, in %v", subs, r.Elapsed)
	})
	t.Run("rclone-serve-restic", func(t *testing.T) {
		srv := startRclone(t, testutil.LagSpec(t.TempDir(), "create_lag=3s", "delete_lag=3s"))
		r := e2e.RunRESTSuite(t, srv.URL("suite"), 5*time.Minute)
		if r.Err == nil || r.TopPassed || len(r.Failed) == 0 {
			t.Fatalf("suite through rclone serve restic on a lagging remote was expected to fail, but: err=%v top passed=%v failed=%v (%v)\n%s",
				r.Err, r.TopPassed, r.Failed, r.Elapsed, r.Out)
		}
		t.Logf("rclone serve restic, lag 3s: suite FAILED as expected (%v): %d passed, %d failed, %d skipped",
			r.Elapsed, len(r.Passed), len(r.Failed), len(r.Skipped))
		for _, n := range r.Failed {
			t.Logf("  FAIL %s", n)
		}
	})
}
