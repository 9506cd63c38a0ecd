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

// SuiteTest is restic's REST backend suite, run against an external server.
const SuiteTest = "TestBackendRESTExternalServer"

var goTestResultRE = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// SuiteResult is what one `go test -v` run of restic's REST backend suite
// printed.
type SuiteResult struct {
	Passed, Failed, Skipped []string // test names, including subtests
	TopPassed               bool     // "--- PASS: TestBackendRESTExternalServer"
	Out                     string
	Err                     error
	Elapsed                 time.Duration
}

// Subtests returns the passing subtests of the suite.
func (r SuiteResult) Subtests() []string {
	var subs []string
	for _, n := range r.Passed {
		if strings.HasPrefix(n, SuiteTest+"/") {
			subs = append(subs, n)
		}
	}
	return subs
}

// Clean reports a run that passed with nothing failed or skipped.
func (r SuiteResult) Clean() bool {
	return r.Err == nil && r.TopPassed && len(r.Failed) == 0 && len(r.Skipped) == 0
}

// ParseGoTestV collects the --- PASS/FAIL/SKIP lines of `go test -v` output.
func ParseGoTestV(out string) SuiteResult {
	r := SuiteResult{Out: out}
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
			if m[2] == SuiteTest {
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

// RunRESTSuite runs restic's own REST backend suite (from the nested
// module conformance/, which pins restic's test dependencies) against the
// repository URL repo. The suite's last subtest, TestZZZDelete, skips only
// when RESTIC_TEST_CLEANUP is false; the environment here has no RESTIC_*
// variables, so a clean run has no skip at all.
func RunRESTSuite(t testing.TB, repo string, timeout time.Duration) SuiteResult {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, GoBinary(), "test", "-count=1", "-v",
		"-run", SuiteTest, "github.com/restic/restic/internal/backend/rest")
	cmd.Dir = filepath.Join(root, "conformance")
	cmd.WaitDelay = 10 * time.Second
	var env []string
	for _, kv := range CleanEnv() {
		if !strings.HasPrefix(kv, "GOFLAGS=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"RESTIC_TEST_REST_REPOSITORY="+repo,
		// The nested module's go.sum is complete: no network, no edits.
		"GOFLAGS=-mod=readonly",
		"GOWORK=off",
		"GOTOOLCHAIN=local",
	)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := ParseGoTestV(string(out))
	r.Err, r.Elapsed = err, time.Since(start).Round(time.Millisecond)
	return r
}
