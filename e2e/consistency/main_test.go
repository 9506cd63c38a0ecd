package consistency

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/e2e"
)

// Binaries built once by TestMain. E2E_RACE=1 builds the servers with the
// race detector (slower; the tests' own code runs under -race anyway).
var (
	steadyrestBin string
	rcloneLagBin  string
	emulatorBin   string
)

func TestMain(m *testing.M) {
	os.Exit(e2e.RunWithBinaries(m, "consistency",
		e2e.Binary{Pkg: "./cmd/steadyrest", Dst: &steadyrestBin, Race: true},
		e2e.Binary{Pkg: "./cmd/rclone-lag", Dst: &rcloneLagBin, Race: true},
		e2e.Binary{Pkg: "./cmd/pcloud-emulator", Dst: &emulatorBin, Race: true}))
}

// lagRemote is a fresh lagging remote over a temp folder.
func lagRemote(t *testing.T, lag string, extra ...string) string {
	opts := append([]string{"remote=" + t.TempDir(), "create_lag=" + lag, "delete_lag=" + lag}, extra...)
	return ":lag," + strings.Join(opts, ",") + ":"
}

// startSteadyrest runs steadyrest on remote with its state in a temp dir.
func startSteadyrest(t *testing.T, remote string, extra ...string) *e2e.Server {
	t.Helper()
	return e2e.StartServer(t, e2e.SteadyrestSpec(steadyrestBin, remote, t.TempDir(), append([]string{"--no-request-log"}, extra...)...))
}

// startRclone runs rclone serve restic (rclone-lag build) on remote.
func startRclone(t *testing.T, remote string) *e2e.Server {
	t.Helper()
	return e2e.StartServer(t, e2e.RcloneServeResticSpec(rcloneLagBin, remote))
}

// proc is a process the test can SIGKILL (the e2e harness only stops with
// SIGTERM), with its output kept for waitLine.
type proc struct {
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	notify chan struct{}
	exited chan struct{}
	err    error
}

// startProc starts bin with args and env added to the environment; at
// cleanup it is killed if still running, and its output logged on failure.
func startProc(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.cmd = cmd
	t.Logf("%s started (pid %d): %s %s", name, cmd.Process.Pid, bin, strings.Join(args, " "))
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			t.Logf("---- %s output ----\n%s\n---- end ----", name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLine waits for an output line matching re and returns its first
// capture group.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if m := re.FindStringSubmatch(p.lines[seen]); m != nil {
				p.mu.Unlock()
				return m[1]
			}
		}
		p.mu.Unlock()
		select {
		case <-p.notify:
		case <-time.After(50 * time.Millisecond):
		case <-p.exited:
			t.Fatalf("%s exited (%v) before printing %v:\n%s", p.name, p.err, re, p.output())
		case <-deadline:
			t.Fatalf("%s did not print %v within %v:\n%s", p.name, re, timeout, p.output())
		}
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.exited
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("%s: want death by SIGKILL, got %v", p.name, p.err)
	}
	t.Logf("%s killed with SIGKILL", p.name)
}
