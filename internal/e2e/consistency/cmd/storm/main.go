// Command storm runs the "4am storm" against any restic repository: N
// plans, each `restic backup --json` of its own small folder then
// `restic forget --json --keep-last 1` scoped to the plan, back to back or
// all at once (--retry-lock). It prints each command's exit code, whether
// its output was JSON only, how many lines were not (warnings), and the
// wall time, as a table or as JSON.
//
//	storm -repo rest:http://127.0.0.1:8000/storm/ -plans 15 [-parallel] [-init] [-json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
	}
	os.Exit(code)
}

func run() (int, error) {
	var c consistency.StormConfig
	var (
		init     = flag.Bool("init", false, "run restic init first")
		asJSON   = flag.Bool("json", false, "print the result as JSON instead of a table")
		verbose  = flag.Bool("v", false, "log each command as it finishes, and print non-JSON lines")
		workDir  = flag.String("work-dir", "", "folder for generated data and restic caches (default: a temp folder, removed at exit)")
		timeout  = flag.Duration("timeout", 5*time.Minute, "bound on each restic command")
		initWait = flag.Duration("init-wait", 0, "pause after -init (lets a lagging remote list the new key, so the storm measures locks, not init)")
	)
	flag.StringVar(&c.Restic, "restic", "restic", "restic binary")
	flag.StringVar(&c.Repo, "repo", "", "repository URL (required), e.g. rest:http://127.0.0.1:8000/storm/")
	flag.StringVar(&c.Password, "password", "steadyrest-storm-password", "repository password")
	flag.IntVar(&c.Plans, "plans", 15, "number of plans")
	flag.BoolVar(&c.Parallel, "parallel", false, "run all plans at once (with --retry-lock)")
	flag.StringVar(&c.RetryLock, "retry-lock", "5m", "--retry-lock value for -parallel")
	flag.DurationVar(&c.Stagger, "stagger", consistency.DefaultStagger, "with -parallel, start plan i after i*stagger (0: all in the same instant; restic's lock retry has no jitter, see StormConfig.Stagger)")
	flag.BoolVar(&c.ScopeByTag, "tag", false, "scope plans by --tag instead of --host")
	flag.IntVar(&c.Files, "files", 4, "files per plan")
	flag.IntVar(&c.FileSize, "file-size", 4096, "bytes per file")
	flag.Parse()
	if c.Repo == "" {
		flag.Usage()
		return 2, fmt.Errorf("-repo is required")
	}
	c.Timeout = *timeout
	c.WorkDir = *workDir
	if c.WorkDir == "" {
		d, err := os.MkdirTemp("", "storm-")
		if err != nil {
			return 1, fmt.Errorf("temp dir: %w", err)
		}
		defer os.RemoveAll(d)
		c.WorkDir = d
	}
	if *verbose {
		c.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := c.Prepare(); err != nil {
		return 1, err
	}
	if *init {
		if err := c.Init(ctx); err != nil {
			return 1, err
		}
		time.Sleep(*initWait)
	}
	res := c.RunStorm(ctx)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1, fmt.Errorf("encode: %w", err)
		}
	} else {
		fmt.Print(res.Table())
	}
	if *verbose {
		for _, cr := range res.Commands {
			for _, l := range cr.BadLines {
				fmt.Fprintf(os.Stderr, "%s %s: %s\n", consistency.PlanName(cr.Plan), cr.Command, l)
			}
		}
	}
	ok, _, _, _ := res.Summary()
	if ok != len(res.Commands) {
		return 3, nil
	}
	return 0, nil
}
