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

	"github.com/steadyrest/steadyrest/scrub"
)

// scrubMain runs `steadyrest scrub [flags] REMOTE:PATH`: it checks every
// object of the restic repositories at or below the path against its
// SHA-256 name with the remote's own hash, downloading nothing (with
// --read, it downloads what the remote has no SHA-256 for). Exit codes:
// 0 clean, 3 damaged, 4 unverified (no SHA-256, no --read), 1 failed to
// run, 2 usage.
func scrubMain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("steadyrest scrub", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var (
		opt          scrub.Options
		asJSON       bool
		rcloneConfig string
	)
	fl.BoolVar(&opt.Read, "read", false, "download and hash the objects the remote has no SHA-256 for (rclone's --bwlimit and --tpslimit apply)")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fl.StringVar(&rcloneConfig, "rclone-config", "", "rclone config file (default: where rclone looks for it, or $RCLONE_CONFIG)")
	rf := registerRcloneFlags(fl) // --checkers (objects checked at once), --bwlimit, --tpslimit, -v, …
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: steadyrest scrub [flags] REMOTE:PATH\n\n"+
			"Checks every object of the restic repositories at or below REMOTE:PATH against\n"+
			"its name (the SHA-256 of its content) using the remote's own SHA-256, without\n"+
			"downloading, and never changes the remote. Exit status: 0 clean, 3 damaged,\n"+
			"4 not verifiable without --read, 1 failed, 2 usage. See docs/scrub.md.\n\nFlags:\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return scrub.ExitUsage
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return scrub.ExitUsage
	}
	opt.Name = fl.Arg(0)

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	slog.SetDefault(log) // rclone logs through slog's default logger
	if isTerminal(stderr) {
		opt.Progress = func(p scrub.Progress) { fmt.Fprintf(stderr, "\r\033[Kscrub: %s", p) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	f, err := openRemote(ctx, &config{remote: fl.Arg(0), rcloneConfig: rcloneConfig, rclone: rf}, log)
	if err != nil {
		fmt.Fprintf(stderr, "steadyrest scrub: %v\n", err)
		return scrub.ExitFailed
	}
	rep, err := scrub.Run(ctx, f, opt)
	if opt.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil && (errors.Is(err, scrub.ErrNoRepository) || rep.Objects == 0 && len(rep.Findings) == 0) {
		fmt.Fprintf(stderr, "steadyrest scrub: %v\n", err)
		return scrub.ExitFailed
	}
	var werr error
	if asJSON {
		var b []byte
		if b, werr = rep.JSON(); werr == nil {
			_, werr = stdout.Write(b)
		}
	} else {
		werr = rep.WriteText(stdout)
	}
	switch {
	case werr != nil:
		fmt.Fprintf(stderr, "steadyrest scrub: %v\n", werr)
		return scrub.ExitFailed
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "steadyrest scrub: interrupted; the report covers what was checked until then")
		return scrub.ExitFailed
	case err != nil:
		fmt.Fprintf(stderr, "steadyrest scrub: %v\n", err)
		return scrub.ExitFailed
	}
	return rep.Outcome.ExitCode()
}
