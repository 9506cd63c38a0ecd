package pcloud

import (
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// TestResticSuiteSteadyrest: restic's REST backend suite passes through
// steadyrest on rclone's pcloud backend on the emulator with listing lag
// and refused fresh deletes and links. Injected errors are off: the suite
// drives the REST backend without restic's retrying layer, so one 503
// would fail a subtest without saying anything about consistency.
func TestResticSuiteSteadyrest(t *testing.T) {
	t.Parallel()
	emu := e2e.StartEmulator(t, pcloudemu.Options{
		ListLag:          2 * time.Second,
		FreshDeleteFails: true,
		FreshLinkFails:   true,
		Latency:          2 * time.Millisecond,
	})
	srv := startSteadyrest(t, emu, "steadyrest", false)
	r := e2e.RunRESTSuite(t, srv.URL("suite"), 4*time.Minute)
	subs := len(r.Subtests())
	if !r.Clean() || subs < 20 {
		t.Fatalf("restic's REST suite through steadyrest on the pcloud emulator: err=%v top passed=%v, %d subtests passed, failed=%v skipped=%v (%v)\n%s",
			r.Err, r.TopPassed, subs, r.Failed, r.Skipped, r.Elapsed, r.Out)
	}
	st := emu.Stats()
	if st.FreshDeleteRefusals == 0 {
		t.Errorf("the emulator refused no fresh delete: the suite did not exercise delete-before-visible (stats %+v)", st)
	}
	t.Logf("restic REST suite through steadyrest on the pcloud emulator (lag 2s, fresh deletes and links refused): %d subtests passed, 0 failed, 0 skipped, in %v",
		subs, r.Elapsed)
}
