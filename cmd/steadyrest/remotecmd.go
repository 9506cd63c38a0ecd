package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rclone/rclone/fs"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// What the commands over one remote (probe, scrub) share: their report,
// their argument and their rclone flags.

// report is what probe and scrub print: JSON for scripts, text for people.
type report interface {
	JSON() ([]byte, error)
	WriteText(io.Writer) error
}

// printReport writes rep to w as JSON or as text.
func printReport(w io.Writer, rep report, asJSON bool) error {
	if !asJSON {
		return rep.WriteText(w)
	}
	b, err := rep.JSON()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// oneRemote is the Args rule of a command that takes one REMOTE:PATH.
func oneRemote(name string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s takes one remote (REMOTE:PATH), not %d arguments", name, len(args))
		}
		return nil
	}
}

// remoteCommandFlags ends the flags of a command over one remote (probe,
// scrub): its own flags, already on cmd, are grouped as steadyrest's;
// --rclone-config (rclone's --config) and rclone's global flags are added;
// help and usage print usage above the flags.
func remoteCommandFlags(cmd *cobra.Command, cfg *config, usage string, stdout, stderr io.Writer) {
	fl := cmd.Flags()
	fl.StringVar(&cfg.rcloneConfig, "rclone-config", "", "rclone config file (default: where rclone looks for it, or $RCLONE_CONFIG)")
	fl.VisitAll(func(f *pflag.Flag) { f.Annotations = map[string][]string{annGroup: {groupOwn}} })
	fl.AddFlag(&pflag.Flag{Name: "config", Value: fl.Lookup("rclone-config").Value, Usage: "same as --rclone-config", Hidden: true})
	cfg.rclone = registerRcloneFlags(fl) // --checkers, --bwlimit, --tpslimit, -v, …
	cmd.SetHelpFunc(func(*cobra.Command, []string) { printFlagUsage(stdout, usage, fl) })
	cmd.SetUsageFunc(func(*cobra.Command) error { printFlagUsage(stderr, usage, fl); return nil })
}

// openCommandRemote sets a one-remote command up: warnings-only logging
// (rclone's lines too) on stderr, a context that SIGINT or SIGTERM cancels
// (stop releases it), and the remote. stop is set even on an error.
func openCommandRemote(cfg *config, stderr io.Writer) (ctx context.Context, stop context.CancelFunc, log *slog.Logger, f fs.Fs, err error) {
	log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	installLogger(log)
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	f, err = openRemote(ctx, cfg, log)
	return ctx, stop, log, f, err
}
