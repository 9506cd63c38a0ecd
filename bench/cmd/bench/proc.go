package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// peakMiB is the process's peak resident set so far, in MiB.
func peakMiB(s *e2e.Server) float64 {
	kib, err := s.ProcStatusKiB("VmHWM")
	if err != nil {
		logf("warning: %v", err)
		return 0
	}
	return float64(kib) / 1024
}

// withServer starts spec, runs fn on the server and stops it. A server
// that exits badly is worth a warning, not the end of the measurements.
func withServer(spec e2e.ServerSpec, fn func(*e2e.Server) error) error {
	srv, err := e2e.Start(spec)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			logf("warning: %v\n%s", err, tail(srv.Log(), 2000))
		}
	}()
	return fn(srv)
}

// serverCPU is the CPU time the server process has used so far, in
// seconds (0 with a warning when it cannot be read).
func serverCPU(s *e2e.Server) float64 {
	v, err := cpuSeconds(s.Pid())
	if err != nil {
		logf("warning: %v", err)
	}
	return v
}

// syncDisks runs sync(1) when --sync asks for it: the dirty pages an
// earlier command left are written before the next one starts.
func (b *bench) syncDisks(ctx context.Context) error {
	if !b.c.sync {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "sync").CombinedOutput(); err != nil {
		return fmt.Errorf("sync: %w: %s", err, out)
	}
	return nil
}

// addDirty records the machine's dirty page cache as command starts.
func (b *bench) addDirty(command, kind string, round int) {
	v, err := dirtyMiB()
	if err != nil {
		logf("warning: %v", err)
		return
	}
	b.res.add(sample{Scenario: "throughput", Metric: "dirty + writeback pages as the " + command + " starts", Unit: "MiB", Server: kind, Round: round, Value: v})
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// restic runs the restic binary with a password and a cache folder.
type restic struct {
	bin      string
	password string
	timeout  time.Duration
}

// run runs restic -r repo args... with cacheDir ("" = --no-cache), cut
// off after the runner's timeout, and returns how long it took and its
// combined output. A non-zero exit is an error that carries the output.
func (r *restic) run(ctx context.Context, repo, cacheDir string, args ...string) (time.Duration, string, error) {
	d, code, out := r.runCode(ctx, r.timeout, repo, cacheDir, args...)
	if code != 0 {
		return d, out, fmt.Errorf("restic %s: exit %d\n%s", strings.Join(args, " "), code, tail(out, 4000))
	}
	return d, out, nil
}

// runCode runs restic -r repo args... with cacheDir ("" for --no-cache),
// cut off after limit, and returns its wall time, exit code (-1 when cut
// off or not run) and combined output. Unlike run, a failing command is a
// result, not an error.
func (r *restic) runCode(ctx context.Context, limit time.Duration, repo, cacheDir string, args ...string) (time.Duration, int, string) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	full := append([]string{"-r", repo}, args...)
	if cacheDir == "" {
		full = append([]string{"--no-cache"}, full...)
	}
	cmd := exec.CommandContext(ctx, r.bin, full...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(e2e.CleanEnv(), "RESTIC_PASSWORD="+r.password)
	if cacheDir != "" {
		cmd.Env = append(cmd.Env, "RESTIC_CACHE_DIR="+cacheDir)
	}
	start := time.Now()
	b, err := cmd.CombinedOutput()
	d := time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return d, 0, string(b)
	case errors.As(err, &ee) && ctx.Err() == nil:
		return d, ee.ExitCode(), string(b)
	default:
		return d, -1, string(b) + "\n(bench: " + err.Error() + ")"
	}
}

// copyTree copies a folder with cp -a (fast, keeps mtimes).
func copyTree(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	out, err := exec.Command("cp", "-a", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp -a %s %s: %w: %s", src, dst, err, out)
	}
	return nil
}
