package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the CI environment variable is set; in CI a missing
// tool is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") != "" }

// ResticBin returns the restic binary named by the environment variable
// envVar (RESTIC, RESTIC014, ...). If the variable is set, the file must
// exist. If it is unset: in CI the test fails; otherwise the fallbacks are
// tried in order (absolute paths, or names looked up in PATH), and the test
// is skipped if none exists.
func ResticBin(t testing.TB, envVar string, fallbacks ...string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s=%s is not an executable: %v", envVar, p, err)
		}
		return p
	}
	if InCI() {
		t.Fatalf("%s is not set and CI is set: restic tests must not be skipped in CI (run scripts/test.sh)", envVar)
	}
	for _, f := range fallbacks {
		if p, err := exec.LookPath(f); err == nil {
			t.Logf("%s not set; using %s", envVar, p)
			return p
		}
	}
	t.Skipf("%s not set and none of %v found; run scripts/install-restic.sh", envVar, fallbacks)
	return ""
}

// DefaultRestic returns restic v0.19.1 for the tests: $RESTIC, else
// <repo>/.tools/bin/restic, else restic from PATH.
func DefaultRestic(t testing.TB) string {
	t.Helper()
	var fb []string
	if root, err := RepoRoot(); err == nil {
		fb = append(fb, filepath.Join(root, ".tools", "bin", "restic"))
	}
	return ResticBin(t, "RESTIC", append(fb, "restic")...)
}

// Restic runs one restic binary against one repository with its own cache
// directory and password.
type Restic struct {
	t        testing.TB
	Bin      string
	Repo     string
	Password string
	CacheDir string
	// Env is added to every run.
	Env []string
	// Timeout bounds each command (default 3 minutes).
	Timeout time.Duration
}

// NewRestic returns a runner for repo with a fresh temp cache directory.
func NewRestic(t testing.TB, bin, repo string) *Restic {
	return &Restic{
		t:        t,
		Bin:      bin,
		Repo:     repo,
		Password: "steadyrest-e2e-password",
		CacheDir: t.TempDir(),
		Timeout:  3 * time.Minute,
	}
}

// Result is the outcome of one restic run.
type Result struct {
	Args   []string
	Output string // stdout and stderr, interleaved
	Stdout string // stdout only (for --json)
	Code   int    // exit code; -1 if restic could not be run or timed out
	Err    error
}

// Run runs restic with args in the current directory.
func (r *Restic) Run(args ...string) Result { return r.RunIn("", args...) }

// RunIn runs restic with args in dir ("" = current directory). It never
// fails the test; see MustRun.
func (r *Restic) RunIn(dir string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	full := args
	if r.Repo != "" {
		full = append([]string{"-r", r.Repo}, args...)
	}
	cmd := exec.CommandContext(ctx, r.Bin, full...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(CleanEnv(),
		"RESTIC_PASSWORD="+r.Password,
		"RESTIC_CACHE_DIR="+r.CacheDir,
	)
	cmd.Env = append(cmd.Env, r.Env...)
	out := &outputs{}
	cmd.Stdout = streamWriter{out, true}
	cmd.Stderr = streamWriter{out, false}
	start := time.Now()
	err := cmd.Run()
	res := Result{Args: full, Output: out.all.String(), Stdout: out.stdout.String(), Err: err}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		res.Code = ee.ExitCode()
	default:
		res.Code = -1
	}
	r.t.Logf("restic %s: exit %d in %v", strings.Join(args, " "), res.Code, time.Since(start).Round(time.Millisecond))
	return res
}

// MustRun runs restic and fails the test with its output unless it exits 0.
func (r *Restic) MustRun(args ...string) Result { return r.MustRunIn("", args...) }

// MustRunIn is MustRun in directory dir.
func (r *Restic) MustRunIn(dir string, args ...string) Result {
	r.t.Helper()
	res := r.RunIn(dir, args...)
	if res.Code != 0 {
		r.t.Fatalf("restic %s: exit %d (%v)\n%s", strings.Join(res.Args, " "), res.Code, res.Err, res.Output)
	}
	return res
}

// CleanEnv is the process environment without STEADYREST_*, RESTIC_* and
// RCLONE_* variables, so a developer's settings (say STEADYREST_APPEND_ONLY)
// cannot leak into a server or restic under test; callers add what they
// need.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "STEADYREST_") || strings.HasPrefix(kv, "RESTIC_") || strings.HasPrefix(kv, "RCLONE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// outputs collects a process's stdout alone and stdout+stderr interleaved.
// exec copies the two streams in separate goroutines, hence the lock.
type outputs struct {
	mu          sync.Mutex
	all, stdout bytes.Buffer
}

type streamWriter struct {
	o        *outputs
	isStdout bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	if w.isStdout {
		w.o.stdout.Write(p)
	}
	return w.o.all.Write(p)
}
