// Package e2e drives real server processes (steadyrest, or rclone serve
// restic for comparison) with the real restic binary: it builds the
// binaries once per test binary, starts them on loopback, parses their
// logs, and runs restic against them. The harness is for this module's
// tests, benchmarks and comparisons only (it lives under internal/); the
// tests of this package are the end-to-end suite, its sub-packages the
// storms, faults, pCloud, multi-instance and scrub suites.
package e2e

import (
	"bufio"
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

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// ServerSpec says how to run one kind of restic REST server: which binary,
// which arguments, and how to learn the address it listens on from its log.
type ServerSpec struct {
	// Name appears in test logs.
	Name string
	Bin  string
	Args []string
	// Env is added to the clean environment (CleanEnv).
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

// PcloudEmulatorSpec runs cmd/pcloud-emulator with extra flags (e.g.
// -list-lag 2s), writing an rclone.conf section named remoteName into conf.
// It stops with exit 0. Addr is the emulator's URL, announced only after
// its last start-up line, so Log then also holds its "CA file: " line.
func PcloudEmulatorSpec(bin, conf, remoteName string, extra ...string) ServerSpec {
	var url string
	return ServerSpec{
		Name: "pcloud-emulator",
		Bin:  bin,
		Args: append(append([]string{}, extra...), "-rclone-conf", conf, "-remote-name", remoteName),
		// Lines arrive in order on one goroutine, so url needs no lock.
		AddrFromLog: func(line string) (string, bool) {
			if u, ok := strings.CutPrefix(line, "pCloud emulator listening on "); ok {
				url = strings.TrimSpace(u)
			}
			return url, url != "" && strings.HasPrefix(line, "written to ")
		},
	}
}

// Server is a running server process.
type Server struct {
	Spec ServerSpec
	// Addr is host:port as announced by the server.
	Addr string

	cmd    *exec.Cmd
	log    testutil.Buffer
	exited chan struct{}
	// logDone is closed when all output has been read into log.
	logDone chan struct{}
	// waitErr is set before exited is closed.
	waitErr error
	endOnce sync.Once
	endErr  error
}

// URL returns the restic repository string for repo on this server,
// e.g. rest:http://127.0.0.1:1234/repo/.
func (s *Server) URL(repo string) string {
	return "rest:http://" + s.Addr + "/" + strings.Trim(repo, "/") + "/"
}

// Log returns everything the server wrote to stdout and stderr so far.
func (s *Server) Log() string { return s.log.String() }

// Pid is the server's process id (to sample /proc or send signals).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// ProcStatusKiB reads a field in kB, such as VmRSS or VmHWM, from the
// server's /proc/PID/status.
func (s *Server) ProcStatusKiB(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Pid()))
	if err != nil {
		return 0, fmt.Errorf("read status of %s: %w", s.Spec.Name, err)
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
	return 0, fmt.Errorf("%s: no %s in /proc/%d/status", s.Spec.Name, field, s.Pid())
}

// Start starts spec and waits until it announces its address. The caller
// ends the server with Stop or Kill; StartServer does that for tests.
func Start(spec ServerSpec) (*Server, error) {
	if spec.StartTimeout == 0 {
		spec.StartTimeout = 30 * time.Second
	}
	if spec.StopTimeout == 0 {
		spec.StopTimeout = 5 * time.Second
	}
	s := &Server{Spec: spec, exited: make(chan struct{}), logDone: make(chan struct{})}
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Env = append(CleanEnv(), spec.Env...)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	// Bound Wait if a child process keeps the output pipe open.
	cmd.WaitDelay = 2 * time.Second
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}

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

	select {
	case s.Addr = <-addrCh:
		return s, nil
	case <-s.exited:
		<-s.logDone
		return nil, fmt.Errorf("%s exited before announcing its address: %v\n%s", spec.Name, s.waitErr, s.Log())
	case <-time.After(spec.StartTimeout):
		_ = s.Kill()
		return nil, fmt.Errorf("%s did not announce its address within %v\n%s", spec.Name, spec.StartTimeout, s.Log())
	}
}

// StartServer is Start for a test: it fails the test if the server does
// not start. At cleanup it stops the server unless the test already
// stopped or killed it (failing the test if it does not exit with
// spec.StopExitCode in time) and, if the test failed, copies the server's
// log into the test log.
func StartServer(t testing.TB, spec ServerSpec) *Server {
	t.Helper()
	s, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (pid %d) listening on %s: %s %s", spec.Name, s.Pid(), s.Addr, spec.Bin, strings.Join(spec.Args, " "))
	t.Cleanup(func() {
		// An explicit Stop or Kill already handed its error to the caller.
		first := false
		s.endOnce.Do(func() {
			first = true
			s.endErr = s.stop()
		})
		if first && s.endErr != nil {
			t.Errorf("%v", s.endErr)
		}
		if t.Failed() {
			t.Logf("---- %s log ----\n%s---- end of %s log ----", spec.Name, s.Log(), spec.Name)
		}
	})
	return s
}

// Stop sends SIGTERM and waits for the process to exit. It returns an error
// if the process does not exit in time (it is then killed) or exits with a
// code other than Spec.StopExitCode. Stop and Kill end the process once;
// later calls of either return the first result.
func (s *Server) Stop() error {
	s.endOnce.Do(func() { s.endErr = s.stop() })
	return s.endErr
}

// Kill sends SIGKILL (a crash) and waits for the process to be gone. It
// returns an error unless SIGKILL is what ended it. See Stop for repeated
// calls.
func (s *Server) Kill() error {
	s.endOnce.Do(func() { s.endErr = s.kill() })
	return s.endErr
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
		return fmt.Errorf("%s exited with code %d (%v) after SIGTERM, want %d%s", s.Spec.Name, code, s.waitErr, s.Spec.StopExitCode, raceReports(s.Log()))
	}
	return nil
}

func (s *Server) kill() error {
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		<-s.exited
		return fmt.Errorf("SIGKILL %s: %w (it had exited: %v)", s.Spec.Name, err, s.waitErr)
	}
	<-s.exited
	<-s.logDone
	var ee *exec.ExitError
	if !errors.As(s.waitErr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return fmt.Errorf("%s: want death by SIGKILL, got %v", s.Spec.Name, s.waitErr)
	}
	return nil
}

// raceReports is what the race detector printed into a server's log (a
// race-built server exits with code 66 after one), put where a failure's
// message shows it: CI keeps only the tail of a failed run's output, and
// the log of a long test is printed above it.
func raceReports(log string) string {
	const begin, end = "WARNING: DATA RACE", "=================="
	var b strings.Builder
	for {
		i := strings.Index(log, begin)
		if i < 0 {
			break
		}
		log = log[i:]
		j := strings.Index(log, end)
		if j < 0 {
			j = len(log)
		}
		b.WriteString("\n")
		b.WriteString(log[:j])
		log = log[j:]
	}
	if b.Len() == 0 {
		return ""
	}
	return "; the race detector's reports:" + b.String()
}
