package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const suiteTest = "TestBackendRESTExternalServer"

var goTestResultRE = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// SuiteResult summarises a `go test -v` run of restic's REST backend suite.
type SuiteResult struct {
	Passed, Failed, Skipped []string // test names, including subtests
	TopPassed               bool     // "--- PASS: TestBackendRESTExternalServer"
}

// ParseGoTestV collects the --- PASS/FAIL/SKIP lines of `go test -v` output.
func ParseGoTestV(out string) SuiteResult {
	var r SuiteResult
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		m := goTestResultRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		switch m[1] {
		case "PASS":
			r.Passed = append(r.Passed, m[2])
			if m[2] == suiteTest {
				r.TopPassed = true
			}
		case "FAIL":
			r.Failed = append(r.Failed, m[2])
		case "SKIP":
			r.Skipped = append(r.Skipped, m[2])
		}
	}
	return r
}

// TestResticRESTBackendSuite runs restic's own REST backend test suite
// (from the nested module in conformance/) against the server under test.
// Its last subtest, TestZZZDelete, skips only when RESTIC_TEST_CLEANUP is
// false; the environment here strips RESTIC_* variables, so no subtest may
// skip.
func TestResticRESTBackendSuite(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, t.TempDir())
	repo := srv.URL("suite")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, GoBinary(), "test", "-count=1", "-v",
		"-run", suiteTest, "github.com/restic/restic/internal/backend/rest")
	cmd.Dir = filepath.Join(root, "conformance")
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(goEnv(),
		"RESTIC_TEST_REST_REPOSITORY="+repo,
		// The nested module's go.sum is complete: no network, no edits.
		"GOFLAGS=-mod=readonly",
		"GOWORK=off",
		"GOTOOLCHAIN=local",
	)
	start := time.Now()
	outB, err := cmd.CombinedOutput()
	out := string(outB)
	elapsed := time.Since(start).Round(time.Millisecond)
	res := ParseGoTestV(out)
	if err != nil || !res.TopPassed || len(res.Failed) > 0 || len(res.Skipped) > 0 {
		t.Fatalf("restic REST backend suite against %s: err=%v, top-level passed=%v, failed=%v, skipped=%v (in %v)\n%s",
			repo, err, res.TopPassed, res.Failed, res.Skipped, elapsed, out)
	}
	var subs []string
	for _, n := range res.Passed {
		if strings.HasPrefix(n, suiteTest+"/") {
			subs = append(subs, n)
		}
	}
	// The suite has well over 10 subtests; a much smaller count means the
	// run did not do what we think it did.
	if len(subs) < 10 {
		t.Fatalf("only %d passing subtests of %s:\n%s", len(subs), suiteTest, out)
	}
	t.Logf("restic REST backend suite: %d subtests passed, 0 failed, 0 skipped, in %v", len(subs), elapsed)
	for _, n := range subs {
		t.Logf("  PASS %s", n)
	}
}

// goEnv is the environment for a nested go command: without RESTIC_* and
// RCLONE_* variables, and without GOFLAGS (set explicitly by callers).
func goEnv() []string {
	var env []string
	for _, kv := range cleanEnv() {
		if strings.HasPrefix(kv, "GOFLAGS=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
