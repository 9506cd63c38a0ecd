// Package faults drives a real steadyrest process with the real restic
// binary over remotes that fail: transient errors, uploads and downloads
// cut mid-stream, permissions refused, a full quota, a crash (SIGKILL) in
// the middle of a storm, a damaged journal, clients that hang up, and a
// bounded load.
package faults

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/e2e"
)

var (
	steadyrestBin string
	emulatorBin   string
)

func TestMain(m *testing.M) {
	os.Exit(e2e.RunWithBinaries(m, "faults",
		e2e.Binary{Pkg: "./cmd/steadyrest", Dst: &steadyrestBin, Race: true},
		e2e.Binary{Pkg: "./cmd/pcloud-emulator", Dst: &emulatorBin}))
}

// proc is a steadyrest process this package starts itself (rather than
// through e2e.StartServer) because the tests need its pid: to SIGKILL it
// and to sample its memory.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	Addr string
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{}
	// logDone is closed when all output is in log.
	logDone chan struct{}
	err     error
}

// startSteadyrest runs steadyrest on remote with stateDir, listening on
// listen (127.0.0.1:0 for a free port). extra flags are appended; env is
// added to a clean environment.
func startSteadyrest(t testing.TB, remote, stateDir, listen string, env []string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"--remote", remote, "--listen", listen, "--state-dir", stateDir, "--no-auth"}, extra...)
	p := &proc{t: t, cmd: exec.Command(steadyrestBin, args...), done: make(chan struct{}), logDone: make(chan struct{})}
	p.cmd.Env = append(e2e.CleanEnv(), env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start steadyrest: %v", err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(p.logDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if a, ok := e2e.SteadyrestAddr(line); ok && !found {
				found = true
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("---- steadyrest log (pid %d) ----\n%s---- end ----", p.cmd.Process.Pid, tail(p.Log(), 200))
		}
	})
	select {
	case p.Addr = <-addr:
		return p
	case <-p.done:
		<-p.logDone
		t.Fatalf("steadyrest exited before serving: %v\n%s", p.err, p.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("steadyrest did not serve within 30s\n%s", p.Log())
	}
	return nil
}

func (p *proc) URL(repo string) string { return "rest:http://" + p.Addr + "/" + repo + "/" }
func (p *proc) Pid() int               { return p.cmd.Process.Pid }

func (p *proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Kill sends SIGKILL (a crash) and waits for the process to go.
func (p *proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and fails the test unless steadyrest exits 0 in time.
func (p *proc) Stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.Kill()
		p.t.Fatalf("steadyrest did not stop within 20s of SIGTERM")
	}
	if p.err != nil {
		p.t.Fatalf("steadyrest exited with %v after SIGTERM", p.err)
	}
}

func tail(s string, lines int) string {
	l := strings.SplitAfter(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "")
}

// lagRemote is a lag connection string over a local folder.
func lagRemote(dir, opts string) string {
	if opts != "" {
		opts = "," + opts
	}
	return fmt.Sprintf(":lag,remote='%s'%s:", dir, opts)
}

// scanRepo checks every file below a repository folder on disk: each
// object's SHA-256 equals its name (config excepted), so no partial upload
// exists under a final name. It returns the number of objects checked.
func scanRepo(t testing.TB, repoDir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(repoDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(repoDir, p)
		if rel == "config" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != d.Name() {
			t.Errorf("remote file %s (%d bytes) does not match its name: a partial or damaged object", rel, len(b))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", repoDir, err)
	}
	return n
}
