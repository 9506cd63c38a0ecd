package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/steadyrest/steadyrest/e2e"
)

// server is one running server process. We start it ourselves rather than
// through e2e.StartServer because we need its pid (for /proc/PID/status)
// and do not run under package testing.
type server struct {
	name string
	cmd  *exec.Cmd
	addr string
	log  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs spec and waits (up to 30s) for its address line.
func startServer(spec e2e.ServerSpec) (*server, error) {
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Env = append(cleanEnv(), spec.Env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	s := &server{name: spec.Name, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			s.log.Write([]byte(line + "\n"))
			if !found {
				if a, ok := spec.AddrFromLog(line); ok {
					found = true
					addrCh <- a
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case s.addr = <-addrCh:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("%s exited before serving:\n%s", spec.Name, s.log.String())
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s did not announce its address in 30s:\n%s", spec.Name, s.log.String())
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// repoURL is the restic repository string for repo on s.
func (s *server) repoURL(repo string) string { return "rest:http://" + s.addr + "/" + repo + "/" }

// procStatusKiB reads a field such as VmHWM or VmRSS from /proc/PID/status.
func (s *server) procStatusKiB(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		return 0, fmt.Errorf("read status of %s: %w", s.name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", field, v, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: no %s in /proc/%d/status", s.name, field, s.pid())
}

// peakMiB is the process's peak resident set so far, in MiB.
func (s *server) peakMiB() float64 {
	kib, err := s.procStatusKiB("VmHWM")
	if err != nil {
		logf("warning: %v", err)
		return 0
	}
	return float64(kib) / 1024
}

// stop sends SIGTERM and waits up to 15s, then kills.
func (s *server) stop() {
	select {
	case <-s.done:
		logf("warning: %s had exited on its own:\n%s", s.name, tail(s.log.String(), 2000))
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		logf("warning: %s ignored SIGTERM for 15s; killed", s.name)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// cleanEnv drops STEADYREST_*, RCLONE_* and RESTIC_* so a developer's
// settings cannot change what is measured.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "STEADYREST_") || strings.HasPrefix(kv, "RCLONE_") || strings.HasPrefix(kv, "RESTIC_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// restic runs the restic binary with a password and a cache folder.
type restic struct {
	bin      string
	password string
	timeout  time.Duration
}

// run runs restic -r repo args... with cacheDir ("" = --no-cache) and
// returns how long it took and its combined output. A non-zero exit is an
// error that carries the output.
func (r *restic) run(ctx context.Context, repo, cacheDir string, args ...string) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	full := append([]string{"-r", repo}, args...)
	if cacheDir == "" {
		full = append([]string{"--no-cache"}, full...)
	}
	cmd := exec.CommandContext(ctx, r.bin, full...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(cleanEnv(), "RESTIC_PASSWORD="+r.password)
	if cacheDir != "" {
		cmd.Env = append(cmd.Env, "RESTIC_CACHE_DIR="+cacheDir)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, out.String(), fmt.Errorf("restic %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 4000))
	}
	return d, out.String(), nil
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
