package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	rconfig "github.com/rclone/rclone/fs/config"
)

// rcloneFlags makes rclone's global options (--tpslimit, --bwlimit,
// --timeout, --low-level-retries, --user-agent, …, and -v/-vv) flags of
// steadyrest, with the names and values rclone users know. The flags write
// into rclone's own option table (fs.ConfigOptionsInfo), so rclone's
// precedence holds: a flag beats an RCLONE_* variable, which beats the
// default. setupRclone turns them into rclone's config.
type rcloneFlags struct {
	names   map[string]bool // flag names taken from rclone, kept out of our own help
	verbose int             // -v count, as rclone's (not an option in its table)
}

// rcloneSkip are rclone options whose names steadyrest uses with its own
// meaning, or that make no sense for a server; their RCLONE_* variables
// still reach rclone.
var rcloneSkip = map[string]bool{
	"log_level": true, // steadyrest's --log-level; -v/-vv set rclone's
}

// countFlag is -v: each use adds one, as in rclone (-vv is its own flag
// because the standard flag package has no short-flag bundling).
type countFlag struct {
	n    *int
	step int
}

func (c countFlag) String() string {
	if c.n == nil {
		return "0"
	}
	return strconv.Itoa(*c.n)
}

func (c countFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want no value or true/false: %w", err)
	}
	if b {
		*c.n += c.step
	}
	return nil
}

func (c countFlag) IsBoolFlag() bool { return true }

// rcloneBoolOption lets an rclone bool option be given without a value
// (--no-check-certificate), as with rclone.
type rcloneBoolOption struct{ *fs.Option }

func (rcloneBoolOption) IsBoolFlag() bool { return true }

// registerRcloneFlags adds rclone's global options to fl, but for names fl
// already has.
func registerRcloneFlags(fl *flag.FlagSet) *rcloneFlags {
	rf := &rcloneFlags{names: map[string]bool{}}
	for i := range fs.ConfigOptionsInfo {
		opt := &fs.ConfigOptionsInfo[i]
		if rcloneSkip[opt.Name] {
			continue
		}
		name := strings.ReplaceAll(opt.Name, "_", "-")
		if fl.Lookup(name) != nil || rf.names[name] {
			continue
		}
		help, _, _ := strings.Cut(strings.TrimSpace(opt.Help), "\n")
		var v flag.Value = opt
		if _, ok := opt.Default.(bool); ok {
			v = rcloneBoolOption{opt}
		}
		fl.Var(v, name, "rclone: "+help)
		rf.names[name] = true
	}
	fl.Var(countFlag{&rf.verbose, 1}, "v", "rclone: -v logs rclone's INFO messages, -vv its DEBUG ones (and steadyrest's)")
	fl.Var(countFlag{&rf.verbose, 2}, "vv", "rclone: as -v -v")
	fl.Var(countFlag{&rf.verbose, 1}, "verbose", "rclone: as -v")
	for _, n := range []string{"v", "vv", "verbose"} {
		rf.names[n] = true
	}
	return rf
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
