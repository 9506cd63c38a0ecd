package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpWidth is where flag help wraps.
const helpWidth = 110

// printServeUsage is the help of the root command, serve and
// healthcheck: GNU-style flags in groups, then the variables, signals and
// exit statuses.
func printServeUsage(cmd *cobra.Command) error {
	w := cmd.OutOrStderr()
	if cmd.Name() == "healthcheck" {
		fmt.Fprintf(w, "Usage:\n  steadyrest healthcheck [flags]\n\n%s\n", cmd.Long)
	} else {
		fmt.Fprintf(w, "Usage:\n  steadyrest [serve] [flags]\n  steadyrest COMMAND [flags] [args]\n\n%s\n", cmd.Long)
	}
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintln(w, "\nCommands:")
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
				fmt.Fprintf(w, "  %-14s %s\n", sub.Name(), sub.Short)
			}
		}
	}
	fl := cmd.Flags()
	fmt.Fprintf(w, "\nFlags (each also the environment variable shown):\n%s", groupUsages(fl, groupOwn, true))
	fmt.Fprintln(w, "\nNames from rest-server and rclone serve restic:")
	fl.VisitAll(func(f *pflag.Flag) {
		if flagGroup(f) == groupPeer {
			fmt.Fprintf(w, "      --%-22s %s\n", f.Name, peerNote(f))
		}
	})
	fmt.Fprint(w, `
rclone's global flags (--tpslimit, --bwlimit, --timeout, --low-level-retries, --user-agent, -v, -vv, …)
work as in rclone, also as RCLONE_* variables: see 'steadyrest help rclone-flags'.

A flag on the command line wins over its variable. Secrets (--pass, a --shared URL with a password)
are visible to other users in 'ps': give them in the variables or with --pass-file and --shared-file.

Signals: SIGHUP reloads the htpasswd file, the TLS certificate and the --log file, and never stops the
server; SIGTERM and SIGINT stop it after the requests in flight (--shutdown-timeout).

Exit status: 0 stopped by a signal, or the command succeeded; 1 the server stopped on an error, or the
probe, scrub or health check failed; 2 bad flags, variables or configuration (nothing was started);
scrub also exits 3 when it found damage and 4 when the remote has no SHA-256 to check against.

-h, --help prints this help, --version the version. Use "steadyrest COMMAND --help" for a command's flags.
`)
	return nil
}

// groupUsages is the GNU-style usage of fl's flags of group, each with its
// variables when withEnv.
func groupUsages(fl *pflag.FlagSet, group string, withEnv bool) string {
	out := pflag.NewFlagSet("", pflag.ContinueOnError)
	fl.VisitAll(func(f *pflag.Flag) {
		if flagGroup(f) != group {
			return
		}
		c := *f
		c.Hidden = false
		if env := f.Annotations[annEnv]; withEnv && len(env) > 0 {
			c.Usage += " [$" + strings.Join(env, ", $") + "]"
		}
		out.AddFlag(&c)
	})
	return out.FlagUsagesWrapped(helpWidth)
}

// newRcloneFlagsTopic is `steadyrest help rclone-flags`.
func newRcloneFlagsTopic() *cobra.Command {
	fl := pflag.NewFlagSet("", pflag.ContinueOnError)
	registerRcloneFlags(fl)
	cmd := &cobra.Command{
		Use:   "rclone-flags",
		Short: "rclone's global flags, accepted by serve, healthcheck and probe",
		Long: "rclone's global options, with rclone's names, defaults and help; each is also the variable\n" +
			"RCLONE_<FLAG>. They apply to the remote steadyrest stores into.\n\n" + groupUsages(fl, groupRclone, false),
	}
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) { fmt.Fprint(c.OutOrStdout(), c.Long) })
	return cmd
}

// printFlagUsage is the help of a command with plain flags (probe).
func printFlagUsage(w io.Writer, usage string, fl *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\nFlags:\n%s", usage, groupUsages(fl, groupOwn, false))
	fmt.Fprint(w, "\nrclone's global flags (--tpslimit, --bwlimit, -v, …) work as in rclone: see 'steadyrest help rclone-flags'.\n")
}
