package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	rconfig "github.com/rclone/rclone/fs/config"
	rflags "github.com/rclone/rclone/fs/config/flags"
	"github.com/spf13/pflag"
)

// rcloneFlags makes rclone's global options (--tpslimit, --bwlimit,
// --timeout, --low-level-retries, --user-agent, …, and -v/-vv) flags of
// steadyrest, defined by rclone itself (flags.AddFlagsFromOptions over
// fs.ConfigOptionsInfo: rclone's names, defaults and help). The flags
// write into rclone's own option table, so rclone's precedence holds: a
// flag beats an RCLONE_* variable, which beats the default. setupRclone
// turns them into rclone's config.
type rcloneFlags struct {
	verbose int   // -v count, as rclone's (not an option in its table)
	envErr  error // a bad RCLONE_* value, reported when the command runs
}

// rcloneSkip are rclone options whose names steadyrest uses with its own
// meaning; their RCLONE_* variables still reach rclone.
var rcloneSkip = map[string]bool{
	"log-level": true, // steadyrest's --log-level; -v/-vv set rclone's
}

// registerRcloneFlags adds rclone's global options to fl, but for names fl
// already has.
func registerRcloneFlags(fl *pflag.FlagSet) *rcloneFlags {
	rf := &rcloneFlags{envErr: checkRcloneEnv()}
	if rf.envErr != nil {
		return rf // rclone would exit the process on the bad value
	}
	scratch := pflag.NewFlagSet("rclone", pflag.ContinueOnError)
	rflags.AddFlagsFromOptions(scratch, "", fs.ConfigOptionsInfo)
	scratch.VisitAll(func(f *pflag.Flag) {
		if rcloneSkip[f.Name] || fl.Lookup(f.Name) != nil || f.Shorthand != "" && fl.ShorthandLookup(f.Shorthand) != nil {
			return
		}
		f.Annotations = map[string][]string{annGroup: {groupRclone}, annEnv: {fs.OptionToEnv(f.Name)}}
		fl.AddFlag(f)
	})
	fl.CountVarP(&rf.verbose, "verbose", "v", "print rclone's INFO messages with -v, its DEBUG ones (and steadyrest's) with -vv")
	fl.Lookup("verbose").Annotations = map[string][]string{annGroup: {groupRclone}, annEnv: {"RCLONE_VERBOSE"}}
	// --vv: steadyrest's earlier spelling of -vv, kept working.
	vv := fl.VarPF(twoVerbose{&rf.verbose}, "vv", "", "same as -vv")
	vv.NoOptDefVal, vv.Hidden = "true", true
	return rf
}

// twoVerbose is --vv: -v twice.
type twoVerbose struct{ n *int }

func (v twoVerbose) String() string { return strconv.Itoa(*v.n) }
func (twoVerbose) Type() string     { return "bool" }
func (v twoVerbose) Set(s string) error {
	if b, err := strconv.ParseBool(s); err != nil || !b {
		return err
	}
	*v.n += 2
	return nil
}

// checkRcloneEnv checks the RCLONE_* variables of rclone's global options
// on copies, so that a bad one is a configuration error with its name.
func checkRcloneEnv() error {
	for _, opt := range fs.ConfigOptionsInfo {
		name := strings.ReplaceAll(opt.Name, "_", "-")
		env := fs.OptionToEnv(name)
		if v, ok := os.LookupEnv(env); ok {
			if err := opt.Set(v); err != nil { // opt is a copy
				return fmt.Errorf("environment variable %s=%q: %w", env, v, err)
			}
		}
	}
	return nil
}

// setupRclone applies rclone's options the way its command line does:
// RCLONE_* variables and flags into rclone's global config, then starts
// its accounting, which runs the --tpslimit and --bwlimit token buckets
// (without it both are silently ignored).
func setupRclone(ctx context.Context, cfg *config) error {
	if err := checkReadable(rconfig.GetConfigPath()); err != nil {
		return err
	}
	if err := fs.GlobalOptionsInit(); err != nil {
		return fmt.Errorf("rclone options (flags and RCLONE_* variables): %w", err)
	}
	ci := fs.GetConfig(ctx)
	verbose := 0
	if cfg.rclone != nil {
		verbose = cfg.rclone.verbose
	}
	if v, ok := os.LookupEnv("RCLONE_VERBOSE"); ok && verbose == 0 {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("RCLONE_VERBOSE=%q: want a number", v)
		}
		verbose = n
	}
	switch {
	case verbose >= 2:
		ci.LogLevel = fs.LogLevelDebug
	case verbose == 1:
		ci.LogLevel = fs.LogLevelInfo
	}
	if err := ci.Reload(ctx); err != nil {
		return fmt.Errorf("apply rclone options: %w", err)
	}
	accounting.Start(ctx)
	return nil
}

// checkReadable fails the start when the rclone config exists but this
// user cannot read it: rclone would go on without it and fail later with
// a remote "not found in config file". The usual cause is a chmod 600
// file of another user bind-mounted into the container (uid 65532).
func checkReadable(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err == nil {
		f.Close()
		return nil
	}
	return unreadableConfig(path, err)
}

// unreadableConfig is the start error for a config that cannot be opened
// for lack of permission; nil for other errors.
func unreadableConfig(path string, err error) error {
	if errors.Is(err, iofs.ErrPermission) {
		return fmt.Errorf("rclone config: %w: steadyrest runs as uid %d and cannot read it. Make it readable for that uid "+
			"without opening it to everyone, e.g. `sudo chown %d %s` (it may stay chmod 600); in the container image the uid is 65532",
			err, os.Getuid(), os.Getuid(), path)
	}
	return nil // missing: rclone's own search and RCLONE_CONFIG_* remotes still work
}
