package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/probe"
)

// newProbeCommand is `steadyrest probe [flags] REMOTE`: it measures how
// the remote lags and recommends whether and how to run steadyrest over it.
func newProbeCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		opt    probe.Options
		asJSON bool
		large  = int64(4 << 20)
		cfg    config
	)
	cmd := &cobra.Command{
		Use:   "probe [flags] REMOTE:PATH",
		Short: "Measure how long a remote takes to show changes, and whether it needs steadyrest",
		Args:  oneRemote("probe"),
	}
	fl := cmd.Flags()
	fl.IntVar(&opt.Rounds, "rounds", 5, "how many create/delete rounds to run")
	fl.DurationVar(&opt.Duration, "duration", 0, "start no new round after this long (0: run every round)")
	fl.DurationVar(&opt.Timeout, "timeout", 2*time.Minute, "longest wait for the remote to show one change (rclone's --timeout: $RCLONE_TIMEOUT)")
	fl.Var(sizeValue{&large}, "large-size", "size of the one large object (0: none)")
	fl.DurationVar(&opt.MinSettleWindow, "min-settle-window", overlay.DefaultSettleWindow, "the least --settle-window to recommend (lower it only if you accept a shorter guarantee)")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	usage := fmt.Sprintf("Usage:\n  steadyrest probe [flags] REMOTE:PATH\n\n"+
		"Measures how long the remote takes to show new and deleted objects, in a\n"+
		"folder %s<random> of its own that it removes at the end.\n", probe.DirPrefix)
	remoteCommandFlags(cmd, &cfg, usage, stdout, stderr)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		if cfg.rclone.envErr != nil {
			return cfg.rclone.envErr
		}
		opt.LargeSize = large
		if large == 0 {
			opt.LargeSize = -1
		}
		cfg.remote, opt.Name = args[0], args[0]
		return probeMain(&cfg, opt, asJSON, stdout, stderr)
	}
	return cmd
}

// probeMain runs the probe on cfg.remote and prints the report.
func probeMain(cfg *config, opt probe.Options, asJSON bool, stdout, stderr io.Writer) error {
	if isTerminal(stderr) {
		opt.Progress = func(line string) { fmt.Fprintf(stderr, "\r\033[Kprobe: %s", line) }
	}
	ctx, stop, log, f, err := openCommandRemote(cfg, stderr)
	defer stop()
	opt.Logger = log
	if err != nil {
		fmt.Fprintf(stderr, "steadyrest probe: %v\n", redactText(err.Error()))
		return exitStatus(exitFailure)
	}
	rep, err := probe.Run(ctx, f, opt)
	if opt.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if rep != nil {
		if werr := printReport(stdout, rep, asJSON); werr != nil {
			fmt.Fprintf(stderr, "steadyrest probe: %v\n", werr)
			return exitStatus(exitFailure)
		}
	}
	if errors.Is(err, context.Canceled) && !errors.Is(err, probe.ErrLeftBehind) {
		fmt.Fprintln(stderr, "steadyrest probe: interrupted; the probe folder was removed")
		return exitStatus(exitFailure)
	}
	if err != nil {
		fmt.Fprintf(stderr, "steadyrest probe: %v\n", redactText(err.Error()))
		return exitStatus(exitFailure)
	}
	return nil
}

// isTerminal reports whether w is a terminal (a character device), where
// a progress line that rewrites itself makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
