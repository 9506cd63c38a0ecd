// Package redistest runs a real redis-server for tests: started on a unix
// socket (or a loopback port) in a temporary folder, stopped by the test's
// cleanup. It can be stopped and started again mid-test, with or without
// persistence, to test what a client does while Redis is away or after it
// lost its data.
//
// redis-server comes from Debian's package (scripts/install-redis.sh). When
// it is missing the test fails in CI (CI set) and is skipped elsewhere.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options choose how the server listens and keeps its data.
type Options struct {
	// TCP listens on a free 127.0.0.1 port instead of a unix socket.
	TCP bool
	// AppendOnly turns on the append-only file with appendfsync always,
	// so a restart keeps every acknowledged write. Without it a restart
	// starts empty (no RDB snapshots either).
	AppendOnly bool
}

// Server is one redis-server process and its folder.
type Server struct {
	t    testing.TB
	opt  Options
	dir  string
	sock string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

// Start starts redis-server and waits until it answers PING.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not installed (scripts/install-redis.sh): %v", err)
		}
		t.Skipf("redis-server is not installed (scripts/install-redis.sh): %v", err)
	}
	// Not t.TempDir: a unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, opt: opt, dir: dir, sock: filepath.Join(dir, "redis.sock")}
	if opt.TCP {
		s.port, err = freePort()
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		s.Kill()
		os.RemoveAll(dir)
	})
	if err := s.start(bin); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL is the address clients use: unix:///…/redis.sock or
// redis://127.0.0.1:PORT/0.
func (s *Server) URL() string {
	if s.opt.TCP {
		return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port)
	}
	return "unix://" + s.sock
}

func (s *Server) args() []string {
	a := []string{
		"--dir", s.dir,
		"--save", "", // no RDB snapshots: persistence is AppendOnly's alone
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no",
	}
	if s.opt.TCP {
		a = append(a, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1")
	} else {
		a = append(a, "--port", "0", "--unixsocket", s.sock, "--unixsocketperm", "700")
	}
	if s.opt.AppendOnly {
		a = append(a, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		a = append(a, "--appendonly", "no")
	}
	return a
}

func (s *Server) start(bin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("redistest: already running")
	}
	cmd := exec.Command(bin, s.args()...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			s.cmd = nil
			logText, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server did not answer PING in 10s: %v\n%s", err, logText)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends an inline PING and expects +PONG.
func (s *Server) ping() error {
	network, addr := "unix", s.sock
	if s.opt.TCP {
		network, addr = "tcp", fmt.Sprintf("127.0.0.1:%d", s.port)
	}
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Stop shuts the server down with SIGTERM and waits for it to exit. With
// AppendOnly the data survives a later Restart; without it, it is gone.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Kill ends the server with SIGKILL (nothing flushed beyond what
// appendfsync always already wrote).
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a stopped server again on the same address and folder.
func (s *Server) Restart() {
	s.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.start(bin); err != nil {
		s.t.Fatal(err)
	}
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
