package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/steadyrest/steadyrest/scrub"
)

// newScrubCommand is `steadyrest scrub [flags] REMOTE:PATH`: it checks
// every object of the restic repositories at or below the path against
// its SHA-256 name with the remote's own hash, downloading nothing (with
// --read, it downloads what the remote has no SHA-256 for). Exit codes:
// 0 clean, 3 damaged, 4 unverified (no SHA-256, no --read), 1 failed to
// run, 2 usage.
func newScrubCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		opt    scrub.Options
		asJSON bool
		cfg    config
	)
	cmd := &cobra.Command{
		Use:   "scrub [flags] REMOTE:PATH",
		Short: "Verify repositories against their SHA-256 names, downloading nothing",
		Args:  oneRemote("scrub"),
	}
	fl := cmd.Flags()
	fl.BoolVar(&opt.Read, "read", false, "download and hash the objects the remote has no SHA-256 for (rclone's --bwlimit and --tpslimit apply)")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	usage := "Usage:\n  steadyrest scrub [flags] REMOTE:PATH\n\n" +
		"Checks every object of the restic repositories at or below REMOTE:PATH against\n" +
		"its name (the SHA-256 of its content) using the remote's own SHA-256, without\n" +
		"downloading, and never changes the remote. Exit status: 0 clean, 3 damaged,\n" +
		"4 not verifiable without --read, 1 failed, 2 usage. See docs/scrub.md.\n"
	remoteCommandFlags(cmd, &cfg, usage, stdout, stderr)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		if cfg.rclone.envErr != nil {
			return cfg.rclone.envErr
		}
		cfg.remote, opt.Name = args[0], args[0]
		if code := scrubMain(&cfg, opt, asJSON, stdout, stderr); code != scrub.ExitClean {
			return exitStatus(code)
		}
		return nil
	}
	return cmd
}

// scrubMain scrubs cfg.remote, prints the report and returns the exit code.
func scrubMain(cfg *config, opt scrub.Options, asJSON bool, stdout, stderr io.Writer) int {
	if isTerminal(stderr) {
		opt.Progress = func(p scrub.Progress) { fmt.Fprintf(stderr, "\r\033[Kscrub: %s", p) }
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "steadyrest scrub: %v\n", redactText(err.Error()))
		return scrub.ExitFailed
	}
	ctx, stop, _, f, err := openCommandRemote(cfg, stderr)
	defer stop()
	if err != nil {
		return fail(err)
	}
	rep, err := scrub.Run(ctx, f, opt)
	if opt.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil && (errors.Is(err, scrub.ErrNoRepository) || rep.Objects == 0 && len(rep.Findings) == 0) {
		return fail(err)
	}
	if werr := printReport(stdout, rep, asJSON); werr != nil {
		return fail(werr)
	}
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "steadyrest scrub: interrupted; the report covers what was checked until then")
		return scrub.ExitFailed
	case err != nil:
		return fail(err)
	}
	return rep.Outcome.ExitCode()
}
