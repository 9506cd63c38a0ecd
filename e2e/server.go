// Package e2e drives real server processes (steadyrest, or rclone serve
// restic for comparison) with the real restic binary. The exported harness
// is usable from other test packages (benchmarks, comparisons); the tests
// of this package are the end-to-end suite.
package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ServerSpec says how to run one kind of restic REST server: which binary,
// which arguments, and how to learn the address it listens on from its log.
type ServerSpec struct {
	// Name appears in test logs.
	Name string
	Bin  string
	Args []string
	// Env is added to the process environment.
	Env []string
	// AddrFromLog returns the listen address (host:port) if line announces it.
	AddrFromLog func(line string) (addr string, ok bool)
	// StopExitCode is the exit code expected after SIGTERM (0 for
	// steadyrest; rclone exits 128+signal).
	StopExitCode int
	// StartTimeout bounds the wait for the address line (default 30s).
	StartTimeout time.Duration
	// StopTimeout bounds the wait for exit after SIGTERM (default 5s).
	StopTimeout time.Duration
}

// SteadyrestSpec runs the steadyrest binary on remote, listening on a free
// loopback port, without auth, with its state in stateDir. extra flags are
// appended (they win over the defaults where the flag parser lets the last
// one win).
func SteadyrestSpec(bin, remote, stateDir string, extra ...string) ServerSpec {
	args := []string{
		"--remote", remote,
		"--listen", "127.0.0.1:0",
		"--state-dir", stateDir,
		"--no-auth",
	}
	return ServerSpec{
		Name:        "steadyrest",
		Bin:         bin,
		Args:        append(args, extra...),
		AddrFromLog: SteadyrestAddr,
	}
}

// RcloneServeResticSpec runs `rclone serve restic` (e.g. the rclone-lag
// build) on remote, listening on a free loopback port.
func RcloneServeResticSpec(bin, remote string, extra ...string) ServerSpec {
	args := []string{"serve", "restic", "--addr", "127.0.0.1:0"}
	args = append(args, extra...)
	return ServerSpec{
		Name: "rclone-serve-restic",
		Bin:  bin,
		Args: append(args, remote),
		// Keep the user's rclone config out of the test.
		Env:          []string{"RCLONE_CONFIG=/nonexistent/rclone.conf"},
		AddrFromLog:  RcloneAddr,
		StopExitCode: 128 + int(syscall.SIGTERM),
		// rclone waits for its lag-backend calls in flight before it
		// exits; 5 s was seen to be too short on a loaded machine.
		StopTimeout: 15 * time.Second,
	}
}

var (
	slogAddrRE   = regexp.MustCompile(`(?:^|\s)addr=("(?:[^"\\]|\\.)*"|\S+)`)
	jsonAddrRE   = regexp.MustCompile(`"addr":"([^"]+)"`)
	rcloneAddrRE = regexp.MustCompile(`Serving restic REST API on \[https?://([^/\]\s]+)`)
)

// SteadyrestAddr finds addr= in steadyrest's `msg="steadyrest serving"` log
// line, in slog text or JSON form.
func SteadyrestAddr(line string) (string, bool) {
	switch {
	case strings.Contains(line, `msg="steadyrest serving"`):
		m := slogAddrRE.FindStringSubmatch(line)
		if m == nil {
			return "", false
		}
		if strings.HasPrefix(m[1], `"`) {
			s, err := strconv.Unquote(m[1])
			return s, err == nil
		}
		return m[1], true
	case strings.Contains(line, `"msg":"steadyrest serving"`):
		m := jsonAddrRE.FindStringSubmatch(line)
		if m == nil {
			return "", false
		}
		return m[1], true
	}
	return "", false
}

// RcloneAddr finds the address in rclone's "Serving restic REST API on
// [http://ADDR/]" line.
func RcloneAddr(line string) (string, bool) {
	m := rcloneAddrRE.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Server is a running server process.
type Server struct {
	Spec ServerSpec
	// Addr is host:port as announced by the server.
	Addr string

	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	// logDone is closed when all output has been read into log.
	logDone chan struct{}
	// waitErr is set before exited is closed.
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// URL returns the restic repository string for repo on this server,
// e.g. rest:http://127.0.0.1:1234/repo/.
func (s *Server) URL(repo string) string {
	return "rest:http://" + s.Addr + "/" + strings.Trim(repo, "/") + "/"
}

// Log returns everything the server wrote to stdout and stderr so far.
func (s *Server) Log() string { return s.log.String() }

// StartServer starts spec and waits until it announces its address. At
// cleanup it stops the server (failing the test if it does not exit with
// spec.StopExitCode in time) and, if the test failed, copies the server's
// log into the test log.
func StartServer(t testing.TB, spec ServerSpec) *Server {
	t.Helper()
	if spec.StartTimeout == 0 {
		spec.StartTimeout = 30 * time.Second
	}
	if spec.StopTimeout == 0 {
		spec.StopTimeout = 5 * time.Second
	}
	s := &Server{Spec: spec, log: &lockedBuffer{}, exited: make(chan struct{}), logDone: make(chan struct{})}
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Env = append(serverEnv(), spec.Env...)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	// Bound Wait if a child process keeps the output pipe open.
	cmd.WaitDelay = 2 * time.Second
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", spec.Name, err)
	}
	t.Logf("%s started (pid %d): %s %s", spec.Name, cmd.Process.Pid, spec.Bin, strings.Join(spec.Args, " "))

	go func() {
		s.waitErr = cmd.Wait()
		pw.Close()
		close(s.exited)
	}()

	addrCh := make(chan string, 1)
	go func() {
		defer close(s.logDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		found := false
		for sc.Scan() {
			line := sc.Text()
			s.log.WriteString(line + "\n")
			if !found {
				if a, ok := spec.AddrFromLog(line); ok {
					found = true
					addrCh <- a
				}
			}
		}
		// Keep draining so the server never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, pr)
	}()

	t.Cleanup(func() {
		// An explicit Stop already handed its error to the caller.
		if err := s.stopAt("cleanup"); err != nil {
			t.Errorf("%v", err)
		}
		if t.Failed() {
			t.Logf("---- %s log ----\n%s---- end of %s log ----", spec.Name, s.Log(), spec.Name)
		}
	})

	select {
	case s.Addr = <-addrCh:
		t.Logf("%s listening on %s", spec.Name, s.Addr)
		return s
	case <-s.exited:
		<-s.logDone
		t.Fatalf("%s exited before announcing its address: %v\n%s", spec.Name, s.waitErr, s.Log())
	case <-time.After(spec.StartTimeout):
		t.Fatalf("%s did not announce its address within %v\n%s", spec.Name, spec.StartTimeout, s.Log())
	}
	return nil
}

// Stop sends SIGTERM and waits for the process to exit. It returns an error
// if the process does not exit in time (it is then killed) or exits with a
// code other than Spec.StopExitCode. Later calls return the first result.
func (s *Server) Stop() error { return s.stopAt("caller") }

// stopAt stops the server once; only the first stopper gets the error.
func (s *Server) stopAt(who string) error {
	first := false
	s.stopOnce.Do(func() {
		first = true
		s.stopErr = s.stop()
	})
	if !first && who == "cleanup" {
		return nil
	}
	return s.stopErr
}

func (s *Server) stop() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s exited on its own before stop: %v", s.Spec.Name, s.waitErr)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal %s: %w", s.Spec.Name, err)
	}
	select {
	case <-s.exited:
	case <-time.After(s.Spec.StopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", s.Spec.Name, s.Spec.StopTimeout)
	}
	<-s.logDone
	code := 0
	if s.waitErr != nil {
		var ee *exec.ExitError
		if !errors.As(s.waitErr, &ee) {
			return fmt.Errorf("wait %s: %w", s.Spec.Name, s.waitErr)
		}
		code = ee.ExitCode()
	}
	if code != s.Spec.StopExitCode {
		return fmt.Errorf("%s exited with code %d (%v) after SIGTERM, want %d", s.Spec.Name, code, s.waitErr, s.Spec.StopExitCode)
	}
	return nil
}

// lockedBuffer is a bytes.Buffer safe for one writer and many readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverEnv is the process environment without STEADYREST_*, RCLONE_* and
// RESTIC_* variables, so a developer's settings cannot change a server
// under test; specs add what they need.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "STEADYREST_") || strings.HasPrefix(kv, "RCLONE_") || strings.HasPrefix(kv, "RESTIC_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
