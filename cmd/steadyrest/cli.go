package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit statuses, as --help documents them.
const (
	exitOK      = 0
	exitFailure = 1 // the server stopped on an error, the probe or the health check failed
	exitUsage   = 2 // bad flags, variables or configuration: nothing was started
)

// exitStatus is an error whose message was already printed (or logged):
// realMain exits with it and prints nothing more.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func realMain(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(longFlagsWithOneDash(root, args))
	err := root.Execute()
	var st exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &st):
		return int(st)
	}
	fmt.Fprintf(stderr, "steadyrest: %s\nRun 'steadyrest --help' for usage.\n", redactText(err.Error()))
	return exitUsage
}

// newRootCommand is steadyrest's command tree: the root serves, as serve.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := newServeCommand("steadyrest", stdout, stderr)
	root.Version = versionText()
	root.SetVersionTemplate("{{.Version}}")
	root.AddCommand(newServeCommand("serve", stdout, stderr), newProbeCommand(stdout, stderr), newScrubCommand(stdout, stderr),
		newHealthcheckCommand(stderr), newVersionCommand(stdout), newRcloneFlagsTopic(), newGendocsCommand(stdout))
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceErrors, root.SilenceUsage = true, true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.CompletionOptions.HiddenDefaultCmd = false
	return root
}

// newServeCommand is `steadyrest serve`, and the root command itself.
func newServeCommand(name string, stdout, stderr io.Writer) *cobra.Command {
	c := &config{}
	cmd := &cobra.Command{
		Use:   name,
		Short: "Serve the restic REST protocol over an rclone remote (the default command)",
		Long: "Serves the restic REST protocol over an rclone remote, with a read-your-writes overlay\n" +
			"that makes an eventually consistent cloud look strongly consistent to restic.",
		Args: cobra.NoArgs,
	}
	if name == "serve" {
		// As `rclone serve restic REMOTE`; not on the root command, where a
		// mistyped command would become a local folder to serve.
		cmd.Use, cmd.Args = "serve [REMOTE:PATH]", cobra.MaximumNArgs(1)
	}
	envErr := defineAllServeFlags(cmd.Flags(), c)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if envErr != nil {
			return envErr
		}
		if len(args) == 1 {
			if cmd.Flags().Changed("remote") || cmd.Flags().Changed("path") {
				return fmt.Errorf("the remote %q is given twice: as --remote and as the argument", redactText(args[0]))
			}
			c.remote = args[0]
		}
		if err := c.finish(); err != nil {
			return err
		}
		return serveMain(c, stderr)
	}
	cmd.SetUsageFunc(func(cmd *cobra.Command) error { return printServeUsage(cmd) })
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) { _ = printServeUsage(cmd) })
	return cmd
}

// defineAllServeFlags adds serve's flags, the peers' names and rclone's
// global options to fl and applies the environment to them.
func defineAllServeFlags(fl *pflag.FlagSet, c *config) error {
	defineServeFlags(fl, c)
	c.rclone = registerRcloneFlags(fl)
	if c.rclone.envErr != nil {
		return c.rclone.envErr
	}
	return applyEnv(fl)
}

// parseFlags is serve's command line and environment as a config, checked.
func parseFlags(args []string, _ io.Writer) (*config, error) {
	c := &config{}
	fl := pflag.NewFlagSet("steadyrest", pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	if err := defineAllServeFlags(fl, c); err != nil {
		return nil, err
	}
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fl.Arg(0))
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the source revision and the rclone version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprint(stdout, versionText()) },
	}
}

// longFlagsWithOneDash turns -name into --name for the long flags of
// every command, so that command lines written for the standard flag
// package (-remote x) keep working; -vv stays rclone's -v -v.
func longFlagsWithOneDash(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { long[f.Name] = len(f.Name) > 1 })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && long[name] {
			out[i] = "-" + a
		}
	}
	return out
}
