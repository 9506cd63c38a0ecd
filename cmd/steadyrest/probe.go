package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/steadyrest/steadyrest/probe"
)

// probeMain runs `steadyrest probe [flags] REMOTE`: it measures how the
// remote lags and recommends whether and how to run steadyrest over it.
func probeMain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("steadyrest probe", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var (
		opt          probe.Options
		asJSON       bool
		rcloneConfig string
		large        int64
	)
	fl.IntVar(&opt.Rounds, "rounds", 5, "how many create/delete rounds to run")
	fl.DurationVar(&opt.Duration, "duration", 0, "start no new round after this long (0: run every round)")
	fl.DurationVar(&opt.Timeout, "timeout", 2*time.Minute, "longest wait for the remote to show one change")
	fl.Int64Var(&large, "large-size", 4<<20, "size in bytes of the one large object (0: none)")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fl.StringVar(&rcloneConfig, "rclone-config", "", "rclone config file (default: where rclone looks for it, or $RCLONE_CONFIG)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: steadyrest probe [flags] REMOTE:PATH\n\n"+
			"Measures how long the remote takes to show new and deleted objects, in a\n"+
			"folder %s<random> of its own that it removes at the end.\n\nFlags:\n", probe.DirPrefix)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return 2
	}
	opt.LargeSize = large
	if large == 0 {
		opt.LargeSize = -1
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	slog.SetDefault(log) // rclone logs through slog's default logger
	opt.Logger = log
	if isTerminal(stderr) {
		opt.Progress = func(line string) { fmt.Fprintf(stderr, "\r\033[Kprobe: %s", line) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	f, err := openRemote(ctx, &config{remote: fl.Arg(0), rcloneConfig: rcloneConfig}, log)
	if err != nil {
		fmt.Fprintf(stderr, "steadyrest probe: %v\n", err)
		return 1
	}
	rep, err := probe.Run(ctx, f, opt)
	if opt.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if rep != nil {
		var werr error
		if asJSON {
			var b []byte
			if b, werr = rep.JSON(); werr == nil {
				_, werr = stdout.Write(b)
			}
		} else {
			werr = rep.WriteText(stdout)
		}
		if werr != nil {
			fmt.Fprintf(stderr, "steadyrest probe: %v\n", werr)
			return 1
		}
	}
	if errors.Is(err, context.Canceled) && !errors.Is(err, probe.ErrLeftBehind) {
		fmt.Fprintln(stderr, "steadyrest probe: interrupted; the probe folder was removed")
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "steadyrest probe: %v\n", err)
		return 1
	}
	return 0
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
