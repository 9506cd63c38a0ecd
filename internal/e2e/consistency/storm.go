// The storm runner, shared by the tests, cmd/storm and bench; it does not
// depend on package testing.

package consistency

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// StormConfig describes one storm: Plans plans on one repository, each
// backing up its own folder then forgetting all but its last snapshot.
type StormConfig struct {
	Restic string // restic binary
	Repo   string // repository, e.g. rest:http://127.0.0.1:8000/repo/
	// PlanRepo, if set, gives plan i's commands their repository URL
	// instead of Repo: one repository reached through several servers
	// (plan i through server i%n). It is asked before each command.
	PlanRepo func(plan int) string
	Password string
	// WorkDir holds the plans' data folders and restic cache folders.
	WorkDir string
	Plans   int
	// Parallel runs all plans at once (with --retry-lock); else back to back.
	Parallel bool
	// RetryLock is passed as --retry-lock when Parallel (default 5m).
	RetryLock string
	// Stagger, when Parallel, starts plan i after i*Stagger. restic
	// retries a busy lock after 5s, 10s, 20s, 40s, then every 60s, without
	// jitter, so exclusive locks (forget) whose first tries fall within
	// the same moment collide again at every retry: 15 plans started in
	// the same millisecond livelock for minutes on any backend (through
	// rclone serve restic on a plain folder, 4 of 15 forgets did not get
	// the lock in 5 minutes). DefaultStagger spreads the starts the way
	// any real scheduler does, while all plans still overlap.
	Stagger time.Duration
	// ScopeByTag scopes plans with --tag planN instead of --host planN.
	ScopeByTag bool
	// Files and FileSize size each plan's generated folder (default 4 x 4 KiB).
	Files, FileSize int
	// Timeout bounds each restic command (default 5m).
	Timeout time.Duration
	// Logf, if set, gets one line per finished command.
	Logf func(format string, args ...any)
}

// CommandResult is the outcome of one restic command of the storm.
type CommandResult struct {
	Plan     int           `json:"plan"`
	Command  string        `json:"command"` // backup or forget
	Args     []string      `json:"args"`
	Repo     string        `json:"repo"`
	Start    time.Time     `json:"start"`
	Code     int           `json:"exit_code"` // -1: not run or timed out
	JSON     bool          `json:"json_clean"`
	Warnings int           `json:"warning_lines"` // lines of output that are not JSON
	BadLines []string      `json:"bad_lines,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Output   string        `json:"-"`
}

// OK reports whether the command exited 0 with JSON-only output.
func (c CommandResult) OK() bool { return c.Code == 0 && c.JSON }

// StormResult is the outcome of a whole storm.
type StormResult struct {
	Plans    int             `json:"plans"`
	Parallel bool            `json:"parallel"`
	Wall     time.Duration   `json:"wall_ns"`
	Commands []CommandResult `json:"commands"`
}

// Summary counts the commands that exited 0, that printed only JSON, and
// the total number of non-JSON lines.
func (r StormResult) Summary() (ok, exit0, withWarnings, warningLines int) {
	for _, c := range r.Commands {
		if c.OK() {
			ok++
		}
		if c.Code == 0 {
			exit0++
		}
		if c.Warnings > 0 {
			withWarnings++
		}
		warningLines += c.Warnings
	}
	return
}

// DefaultStagger is the gap between plan starts that breaks restic's
// lock-retry lockstep (see StormConfig.Stagger).
const DefaultStagger = 1500 * time.Millisecond

// PlanName is the host name or tag of plan i.
func PlanName(i int) string { return fmt.Sprintf("plan%02d", i) }

func (c *StormConfig) defaults() {
	if c.Password == "" {
		c.Password = "steadyrest-storm-password"
	}
	if c.RetryLock == "" {
		c.RetryLock = "5m"
	}
	if c.Files == 0 {
		c.Files = 4
	}
	if c.FileSize == 0 {
		c.FileSize = 4 << 10
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// PlanDir is the data folder of plan i.
func (c *StormConfig) PlanDir(i int) string {
	return filepath.Join(c.WorkDir, "data", PlanName(i))
}

// Prepare generates every plan's data folder (random, so plans do not
// deduplicate into nothing).
func (c *StormConfig) Prepare() error {
	c.defaults()
	for i := 0; i < c.Plans; i++ {
		if err := GenerateFiles(c.PlanDir(i), uint64(i)+1, c.Files, c.FileSize); err != nil {
			return err
		}
	}
	return nil
}

// GenerateFiles writes n files of size bytes of seeded random data into dir.
func GenerateFiles(dir string, seed uint64, n, size int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 0x5e, 0xed})
	for f := 0; f < n; f++ {
		b := make([]byte, size)
		_, _ = src.Read(b)
		p := filepath.Join(dir, fmt.Sprintf("f%03d.bin", f))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// Run runs restic with args against the storm's repository, with the
// plan's own cache folder (cacheName), and returns its exit code and
// combined output.
func (c *StormConfig) Run(ctx context.Context, cacheName string, args ...string) (code int, output string, err error) {
	return c.RunOn(ctx, c.Repo, cacheName, args...)
}

// planRepo is the repository URL plan i's next command uses.
func (c *StormConfig) planRepo(i int) string {
	if c.PlanRepo != nil {
		return c.PlanRepo(i)
	}
	return c.Repo
}

// RunOn is Run against repo, the same repository through another URL.
func (c *StormConfig) RunOn(ctx context.Context, repo, cacheName string, args ...string) (code int, output string, err error) {
	c.defaults()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Restic, append([]string{"-r", repo}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(e2e.CleanEnv(),
		"RESTIC_PASSWORD="+c.Password,
		"RESTIC_CACHE_DIR="+filepath.Join(c.WorkDir, "cache", cacheName),
	)
	// One writer for both streams: exec then serialises the writes.
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(b), nil
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), string(b), nil
	default:
		return -1, string(b), fmt.Errorf("restic %s: %w", strings.Join(args, " "), err)
	}
}

// Init runs restic init on the repository.
func (c *StormConfig) Init(ctx context.Context) error {
	code, out, err := c.Run(ctx, "init", "init")
	if err != nil || code != 0 {
		return fmt.Errorf("restic init: exit %d (%v)\n%s", code, err, out)
	}
	return nil
}

// PlanArgs returns the backup and forget arguments of plan i.
func (c *StormConfig) PlanArgs(i int) (backup, forget []string) {
	c.defaults()
	name := PlanName(i)
	var lock []string
	if c.Parallel {
		lock = []string{"--retry-lock", c.RetryLock}
	}
	if c.ScopeByTag {
		backup = append(append([]string{"backup", "--json"}, lock...), "--tag", name, c.PlanDir(i))
		forget = append(append([]string{"forget", "--json"}, lock...), "--keep-last", "1", "--tag", name, "--group-by", "tags")
	} else {
		backup = append(append([]string{"backup", "--json"}, lock...), "--host", name, c.PlanDir(i))
		forget = append(append([]string{"forget", "--json"}, lock...), "--keep-last", "1", "--host", name, "--group-by", "host")
	}
	return backup, forget
}

// RunPlan runs plan i's backup then (whatever the outcome) its forget.
func (c *StormConfig) RunPlan(ctx context.Context, i int) []CommandResult {
	backup, forget := c.PlanArgs(i)
	var out []CommandResult
	for _, args := range [][]string{backup, forget} {
		start := time.Now()
		repo := c.planRepo(i)
		code, output, err := c.RunOn(ctx, repo, PlanName(i), args...)
		clean, bad := JSONLines(output)
		r := CommandResult{Plan: i, Command: args[0], Args: args, Repo: repo, Start: start, Code: code, JSON: clean && err == nil,
			Warnings: len(bad), BadLines: bad, Duration: time.Since(start), Output: output}
		if err != nil {
			r.BadLines = append(r.BadLines, err.Error())
		}
		c.Logf("%s %s: exit %d, json clean %v, %d warning lines, %v",
			PlanName(i), args[0], code, clean, len(bad), r.Duration.Round(time.Millisecond))
		out = append(out, r)
	}
	return out
}

// RunStorm runs every plan (back to back or all at once) and measures the
// wall time. The repository must exist and the data be prepared.
func (c *StormConfig) RunStorm(ctx context.Context) StormResult {
	c.defaults()
	res := StormResult{Plans: c.Plans, Parallel: c.Parallel}
	start := time.Now()
	if !c.Parallel {
		for i := 0; i < c.Plans; i++ {
			res.Commands = append(res.Commands, c.RunPlan(ctx, i)...)
		}
	} else {
		per := make([][]CommandResult, c.Plans)
		var wg sync.WaitGroup
		for i := 0; i < c.Plans; i++ {
			wg.Go(func() {
				select {
				case <-time.After(time.Duration(i) * c.Stagger):
				case <-ctx.Done():
				}
				per[i] = c.RunPlan(ctx, i)
			})
		}
		wg.Wait()
		for _, p := range per {
			res.Commands = append(res.Commands, p...)
		}
	}
	res.Wall = time.Since(start)
	return res
}

// JSONLines reports whether every non-empty line of out is one JSON value,
// and returns the lines that are not (warnings such as
// "Remove(<lock/...>) returned error, retrying").
func JSONLines(out string) (clean bool, bad []string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !isOneJSONValue(line) {
			bad = append(bad, line)
		}
	}
	return len(bad) == 0, bad
}

func isOneJSONValue(line string) bool {
	dec := json.NewDecoder(strings.NewReader(line))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return false
	}
	// A second value on the same line is what makes a JSON parser fail with
	// "invalid character ... after top-level value".
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}

// Snapshot is the part of restic's snapshot JSON the tests look at.
type Snapshot struct {
	ID       string    `json:"id"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags"`
	Paths    []string  `json:"paths"`
	Time     time.Time `json:"time"`
}

// Snapshots lists the repository's snapshots.
func (c *StormConfig) Snapshots(ctx context.Context) ([]Snapshot, error) {
	return c.SnapshotsOn(ctx, c.Repo)
}

// SnapshotsOn lists the snapshots as seen through repo (another URL of
// the same repository).
func (c *StormConfig) SnapshotsOn(ctx context.Context, repo string) ([]Snapshot, error) {
	code, out, err := c.RunOn(ctx, repo, "snapshots", "snapshots", "--json")
	if err != nil || code != 0 {
		return nil, fmt.Errorf("restic snapshots: exit %d (%v)\n%s", code, err, out)
	}
	var snaps []Snapshot
	// The JSON array is the one line that starts with '['.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "[") {
			if err := json.Unmarshal([]byte(line), &snaps); err != nil {
				return nil, fmt.Errorf("parse snapshots: %w\n%s", err, out)
			}
			return snaps, nil
		}
	}
	return nil, fmt.Errorf("no JSON array in restic snapshots output:\n%s", out)
}

// Table formats a storm result, one row per command and a summary.
func (r StormResult) Table() string {
	var b bytes.Buffer
	mode := "back-to-back"
	if r.Parallel {
		mode = "parallel"
	}
	fmt.Fprintf(&b, "%-7s %-7s %5s %5s %8s %9s\n", "plan", "command", "exit", "json", "warnings", "seconds")
	for _, c := range r.Commands {
		fmt.Fprintf(&b, "%-7s %-7s %5d %5v %8d %9.2f\n", PlanName(c.Plan), c.Command, c.Code, c.JSON, c.Warnings, c.Duration.Seconds())
	}
	ok, exit0, ww, wl := r.Summary()
	fmt.Fprintf(&b, "storm: %d plans %s, %d/%d commands ok (exit 0 and JSON only), %d exit 0, %d with warning lines (%d lines), wall %.2fs\n",
		r.Plans, mode, ok, len(r.Commands), exit0, ww, wl, r.Wall.Seconds())
	return b.String()
}
