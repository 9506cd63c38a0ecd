package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// subprocessEnv makes the test binary run realMain with the arguments after
// "--" instead of the tests: rclone's token buckets are process-wide and
// cannot be stopped, so a limited server must not share the test process.
const subprocessEnv = "STEADYREST_TEST_SUBPROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(subprocessEnv) == "1" {
		args := os.Args
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		if os.Getenv("STEADYREST_TEST_LISTEN_PID_SELF") == "1" {
			// Socket activation names the process; only the child knows its pid.
			os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		}
		os.Exit(realMain(args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// countingServer is an HTTP server that rclone's http backend can list: it
// answers every folder with an empty index, and records when each request
// came and with which User-Agent.
type countingServer struct {
	mu     sync.Mutex
	stamps []time.Time
	agents map[string]bool
	blob   []byte // served as blobPath
}

// blobPath is the one object the counting server holds, as restic asks
// for it; the remote keeps data objects under a folder of their first two
// hex digits.
var (
	blobName64     = strings.Repeat("ab", 32)
	blobPath       = "/r/data/" + blobName64
	blobRemotePath = "/r/data/ab/" + blobName64
)

func (c *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.stamps = append(c.stamps, time.Now())
	c.agents[r.UserAgent()] = true
	c.mu.Unlock()
	if r.URL.Path == blobRemotePath && c.blob != nil {
		http.ServeContent(w, r, "blob", time.Unix(1e9, 0), bytes.NewReader(c.blob))
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	io.WriteString(w, "<html><body></body></html>\n")
}

func (c *countingServer) snapshot() ([]time.Time, map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	agents := map[string]bool{}
	for a := range c.agents {
		agents[a] = true
	}
	return append([]time.Time(nil), c.stamps...), agents
}

// startSubprocess runs steadyrest (this test binary, see TestMain) with
// args and env, and files as descriptors 3 and on, until the test ends or
// stop is called; it returns the listen address and the log so far, read
// through the returned function.
func startSubprocess(t *testing.T, env []string, files []*os.File, args ...string) (addr string, logs func() string, stop func()) {
	t.Helper()
	c := spawn(t, env, files, args...)
	return c.waitServing(t), c.logs.String, c.stop
}

// child is a steadyrest process.
type child struct {
	cmd    *exec.Cmd
	logs   *testutil.Buffer
	addrc  chan string
	copied chan struct{} // stderr fully read: the process ended
	exit   chan error    // cmd.Wait's result, once
	stop   func()        // SIGINT, and wait
}

// spawn starts steadyrest with args and env; it stops at the test's end.
func spawn(t *testing.T, env []string, files []*os.File, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(append(os.Environ(), subprocessEnv+"=1"), env...)
	cmd.ExtraFiles = files
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, logs: &testutil.Buffer{}, addrc: make(chan string, 1), copied: make(chan struct{}), exit: make(chan error, 1)}
	go func() {
		defer close(c.copied)
		// The serving line, as text or as JSON.
		re := regexp.MustCompile(`msg="steadyrest serving" addr=(\S+)|"msg":"steadyrest serving","addr":"([^"]+)"`)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(c.logs, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				c.addrc <- m[1] + m[2]
			}
		}
	}()
	go func() { <-c.copied; c.exit <- cmd.Wait() }()
	var once sync.Once
	c.stop = func() { once.Do(func() { stopSubprocess(t, c) }) }
	t.Cleanup(c.stop)
	return c
}

// waitServing returns the address the child serves on.
func (c *child) waitServing(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-c.addrc:
		return addr
	case <-c.copied:
		t.Fatalf("steadyrest stopped:\n%s", c.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("steadyrest did not start:\n%s", c.logs.String())
	}
	return ""
}

// wait returns the child's exit code once it ends.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-c.exit:
		c.exit <- err // for stop
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("steadyrest did not stop:\n%s", c.logs.String())
	}
	return -1
}

// stopSubprocess stops steadyrest with SIGINT, as a service manager would.
func stopSubprocess(t *testing.T, c *child) {
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-c.exit:
		c.exit <- err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		t.Errorf("steadyrest did not stop on SIGINT:\n%s", c.logs.String())
	}
}

// rateRun starts steadyrest on rclone's http backend over a counting
// server, lists n folders through it at once, and returns when each remote
// request arrived, the User-Agents seen and steadyrest's log.
func rateRun(t *testing.T, n int, env []string, args ...string) ([]time.Time, map[string]bool, string) {
	t.Helper()
	cs := &countingServer{agents: map[string]bool{}}
	addr, logs := startCounted(t, cs, env, args...)

	before := len(func() []time.Time { s, _ := cs.snapshot(); return s }())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Distinct folders: listings of one folder would share one call.
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/r%d/keys/", addr, i), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("list r%d: %s", i, resp.Status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%v\n%s", err, logs())
	}
	stamps, agents := cs.snapshot()
	if len(stamps)-before < n {
		t.Fatalf("the remote saw %d requests for %d listings", len(stamps)-before, n)
	}
	return stamps[before:], agents, logs()
}

// startCounted runs steadyrest in a child process on rclone's http
// backend over cs.
func startCounted(t *testing.T, cs *countingServer, env []string, args ...string) (addr string, logs func() string) {
	t.Helper()
	ts := httptest.NewServer(cs)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	env = append(env, "RCLONE_CONFIG_COUNTED_TYPE=http", "RCLONE_CONFIG_COUNTED_URL="+ts.URL+"/")
	args = append([]string{"--remote", "counted:", "--state-dir", filepath.Join(dir, "state"),
		"--rclone-config", filepath.Join(dir, "none.conf"), "--listen", "127.0.0.1:0", "--no-request-log"}, args...)
	addr, logs, _ = startSubprocess(t, env, nil, args...)
	return addr, logs
}

// overRate reports the first pair of requests that came closer together
// than rate (per second) with burst allow: in any span of time d, a token
// bucket lets at most burst + rate*d requests through.
func overRate(stamps []time.Time, rate float64, burst int) string {
	// A request leaves the bucket when its token is due but reaches the
	// server a little later, by a varying amount on a loaded machine.
	const slack = 200 * time.Millisecond
	for i := range stamps {
		for j := i + 1; j < len(stamps); j++ {
			count := j - i + 1
			d := stamps[j].Sub(stamps[i]) + slack
			if float64(count) > float64(burst)+rate*d.Seconds() {
				return fmt.Sprintf("%d requests within %s", count, stamps[j].Sub(stamps[i]))
			}
		}
	}
	return ""
}

// --tpslimit bounds the rate of requests the remote sees, as in rclone:
// that needs rclone's accounting started. Without the flag the same
// listings arrive faster than that bound, so the check can fail.
func TestTPSLimitBoundsRemoteRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	const n = 8
	t.Run("flag", func(t *testing.T) {
		stamps, agents, logs := rateRun(t, n, nil, "--tpslimit", "2", "--tpslimit-burst", "1",
			"--user-agent", "steadyrest-test/1", "-v")
		if over := overRate(stamps, 2, 1); over != "" {
			t.Errorf("--tpslimit 2: %s", over)
		}
		if !agents["steadyrest-test/1"] || len(agents) != 1 {
			t.Errorf("--user-agent: the remote saw %v", agents)
		}
		// -v shows rclone's INFO messages, as in rclone.
		if !strings.Contains(logs, "Starting transaction limiter") {
			t.Errorf("-v: no rclone INFO line in the log:\n%s", logs)
		}
	})
	t.Run("environment", func(t *testing.T) {
		stamps, _, _ := rateRun(t, n, []string{"RCLONE_TPSLIMIT=2", "RCLONE_TPSLIMIT_BURST=1"})
		if over := overRate(stamps, 2, 1); over != "" {
			t.Errorf("RCLONE_TPSLIMIT=2: %s", over)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		stamps, _, _ := rateRun(t, n, nil)
		if overRate(stamps, 2, 1) == "" {
			t.Errorf("without --tpslimit %d requests took %s: the check above could not fail",
				len(stamps), stamps[len(stamps)-1].Sub(stamps[0]))
		}
	})
}

// rclone's option values reach rclone's config, with its precedence: the
// flag over the RCLONE_ variable.
func TestRcloneFlagsParse(t *testing.T) {
	bad := [][]string{{"--tpslimit", "x"}, {"--timeout", "soon"}, {"--bwlimit", "fast"}}
	for _, args := range bad {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	for _, vv := range [][]string{{"-vv"}, {"-v", "-v"}, {"--vv"}, {"--verbose", "-v"}} {
		cfg, err := parseFlags(vv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.rclone.verbose != 2 || cfg.logLevel != "debug" {
			t.Errorf("%q: verbose %d, log level %q", vv, cfg.rclone.verbose, cfg.logLevel)
		}
	}
	// steadyrest's own --log-level is not rclone's.
	if _, err := parseFlags([]string{"--log-level", "warn"}, io.Discard); err != nil {
		t.Errorf("--log-level warn: %v", err)
	}
}

// --bwlimit bounds the bytes read from the remote. rclone's bucket may
// hold what it gathered since the process started, so the bound is
// bytes <= rate * (time from before the start to the end of the read).
// Without the limit the same read beats that bound.
func TestBwLimitBoundsRemoteReads(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	const size, rate = 6 << 20, 1 << 20
	read := func(t *testing.T, args ...string) (time.Duration, int) {
		cs := &countingServer{agents: map[string]bool{}, blob: bytes.Repeat([]byte{7}, size)}
		start := time.Now()
		addr, logs := startCounted(t, cs, nil, args...)
		resp, err := http.Get("http://" + addr + blobPath)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != size {
			t.Fatalf("GET %s: %s, %d bytes, %v\n%s", blobPath, resp.Status, n, err, logs())
		}
		return time.Since(start), int(n)
	}
	t.Run("limited", func(t *testing.T) {
		d, n := read(t, "--bwlimit", "1M")
		if float64(n) > rate*d.Seconds() {
			t.Errorf("--bwlimit 1M: %d bytes within %s of the start", n, d)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		if d, n := read(t); float64(n) <= rate*d.Seconds() {
			t.Errorf("without --bwlimit %d bytes took %s: the check above could not fail", n, d)
		}
	})
}
