package consistency

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/e2e"
)

const suiteTest = "TestBackendRESTExternalServer"

var goTestLineRE = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

type suiteResult struct {
	passed, failed, skipped []string
	topPassed               bool
	out                     string
	err                     error
	elapsed                 time.Duration
}

// runResticSuite runs restic's own REST backend suite (from the nested
// conformance module) against repo and collects its --- PASS/FAIL/SKIP lines.
func runResticSuite(t *testing.T, repo string) suiteResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2e.GoBinary(), "test", "-count=1", "-v",
		"-run", suiteTest, "github.com/restic/restic/internal/backend/rest")
	cmd.Dir = suiteModuleDir(t)
	cmd.WaitDelay = 10 * time.Second
	var env []string
	for _, kv := range os.Environ() {
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

// TestSuiteLagging: restic's REST backend suite passes through steadyrest on
// a remote with 3s create and delete lag, and fails through rclone serve
// restic on the same kind of remote. The two run one after the other so
// that the 2 cores are not shared between them.
func TestSuiteLagging(t *testing.T) {
	t.Run("steadyrest", func(t *testing.T) {
		srv := startSteadyrest(t, lagRemote(t, "3s"))
		r := runResticSuite(t, srv.URL("suite"))
		var subs int
		for _, n := range r.passed {
			if strings.HasPrefix(n, suiteTest+"/") {
				subs++
			}
		}
		if r.err != nil || !r.topPassed || len(r.failed) > 0 || len(r.skipped) > 0 || subs < 10 {
			t.Fatalf("suite through steadyrest on a lagging remote: err=%v top passed=%v, %d subtests passed, failed=%v skipped=%v (%v)\n%s",
				r.err, r.topPassed, subs, r.failed, r.skipped, r.elapsed, r.out)
		}
		t.Logf("steadyrest, lag 3s: %d subtests passed, 0 failed, 0 skipped, in %v", subs, r.elapsed)
	})
	t.Run("rclone-serve-restic", func(t *testing.T) {
		srv := startRclone(t, lagRemote(t, "3s"))
		r := runResticSuite(t, srv.URL("suite"))
		if r.err == nil || r.topPassed || len(r.failed) == 0 {
			t.Fatalf("suite through rclone serve restic on a lagging remote was expected to fail, but: err=%v top passed=%v failed=%v (%v)\n%s",
				r.err, r.topPassed, r.failed, r.elapsed, r.out)
		}
		t.Logf("rclone serve restic, lag 3s: suite FAILED as expected (%v): %d passed, %d failed, %d skipped",
			r.elapsed, len(r.passed), len(r.failed), len(r.skipped))
		for _, n := range r.failed {
			t.Logf("  FAIL %s", n)
		}
	})
}
