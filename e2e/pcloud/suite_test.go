package pcloud

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/e2e"
	"github.com/steadyrest/steadyrest/pcloudemu"
)

const suiteTest = "TestBackendRESTExternalServer"

var goTestLineRE = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// suiteResult is what one run of restic's REST backend suite printed.
type suiteResult struct {
	passed, failed, skipped []string
	topPassed               bool
	out                     string
	err                     error
	elapsed                 time.Duration
}

// runResticSuite runs restic's own REST backend suite, from the nested
// module conformance/ (which pins restic's test dependencies), against
// repo and collects its --- PASS/FAIL/SKIP lines. (The same helper in
// e2e/consistency is unexported.)
func runResticSuite(t *testing.T, repo string) suiteResult {
	t.Helper()
	root, err := e2e.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2e.GoBinary(), "test", "-count=1", "-v",
		"-run", suiteTest, "github.com/restic/restic/internal/backend/rest")
	cmd.Dir = filepath.Join(root, "conformance")
	cmd.WaitDelay = 10 * time.Second
	var env []string
	for _, kv := range os.Environ() {
		// RESTIC_TEST_CLEANUP=false would skip TestZZZDelete; keep the
		// developer's settings out altogether.
		if strings.HasPrefix(kv, "RESTIC_") || strings.HasPrefix(kv, "RCLONE_") || strings.HasPrefix(kv, "GOFLAGS=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "RESTIC_TEST_REST_REPOSITORY="+repo,
		"GOFLAGS=-mod=readonly", "GOWORK=off", "GOTOOLCHAIN=local")
	start := time.Now()
	b, err := cmd.CombinedOutput()
	r := suiteResult{out: string(b), err: err, elapsed: time.Since(start).Round(time.Millisecond)}
	sc := bufio.NewScanner(strings.NewReader(r.out))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		m := goTestLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		switch m[1] {
		case "PASS":
			r.passed = append(r.passed, m[2])
			if m[2] == suiteTest {
				r.topPassed = true
			}
		case "FAIL":
			r.failed = append(r.failed, m[2])
		case "SKIP":
			r.skipped = append(r.skipped, m[2])
		}
	}
	return r
}

// TestResticSuiteSteadyrest: restic's REST backend suite passes through
// steadyrest on rclone's pcloud backend on the emulator with listing lag
// and refused fresh deletes and links. Injected errors are off: the suite
// drives the REST backend without restic's retrying layer, so one 503
// would fail a subtest without saying anything about consistency.
func TestResticSuiteSteadyrest(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, pcloudemu.Options{
		ListLag:          2 * time.Second,
		FreshDeleteFails: true,
		FreshLinkFails:   true,
		Latency:          2 * time.Millisecond,
	})
	srv := startSteadyrest(t, emu, "steadyrest", false)
	r := runResticSuite(t, srv.URL("suite"))
	var subs int
	for _, n := range r.passed {
		if strings.HasPrefix(n, suiteTest+"/") {
			subs++
		}
	}
	if r.err != nil || !r.topPassed || len(r.failed) > 0 || len(r.skipped) > 0 || subs < 20 {
		t.Fatalf("restic's REST suite through steadyrest on the pcloud emulator: err=%v top passed=%v, %d subtests passed, failed=%v skipped=%v (%v)\n%s",
			r.err, r.topPassed, subs, r.failed, r.skipped, r.elapsed, r.out)
	}
	st := emu.Stats()
	if st.FreshDeleteRefusals == 0 {
		t.Errorf("the emulator refused no fresh delete: the suite did not exercise delete-before-visible (stats %+v)", st)
	}
	t.Logf("restic REST suite through steadyrest on the pcloud emulator (lag 2s, fresh deletes and links refused): %d subtests passed, 0 failed, 0 skipped, in %v",
		subs, r.elapsed)
}
