package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// config is the command line. Every flag can also be set as an environment
// variable STEADYREST_<FLAG> (upper case, '-' as '_'), for containers; a
// flag given on the command line wins over the environment.
type config struct {
	remote       string
	listen       string
	rcloneConfig string
	stateDir     string

	htpasswdFile   string
	noAuth         bool
	appendOnly     bool
	privateRepos   bool
	tlsCert        string
	tlsKey         string
	maxSize        int64
	noVerifyUpload bool
	maxRepoDepth   int

	settleWindow    time.Duration
	cacheMaxObject  int64
	cacheBytes      int64
	shutdownTimeout time.Duration
	headerTimeout   time.Duration
	bodyTimeout     time.Duration
	metricsListen   string
	metricsNoAuth   bool
	logFormat       string
	logLevel        string
	noRequestLog    bool
}

const envPrefix = "STEADYREST_"

// flagHelp reports that --help was asked for and printed.
var flagHelp = errors.New("help requested")

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fl := flag.NewFlagSet("steadyrest", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&c.remote, "remote", "", "rclone remote to store repositories in, as REMOTE:PATH, a connection string or a local folder (default: a folder under the user's data directory)")
	fl.StringVar(&c.listen, "listen", "127.0.0.1:8000", "address to listen on, HOST:PORT or unix:/path/to/socket")
	fl.StringVar(&c.rcloneConfig, "rclone-config", "", "rclone config file (default: where rclone looks for it, or $RCLONE_CONFIG)")
	fl.StringVar(&c.stateDir, "state-dir", "", "folder for the overlay journal (default: a folder under the user's state directory)")
	fl.StringVar(&c.htpasswdFile, "htpasswd-file", "", "htpasswd file with the users allowed in (bcrypt or SHA1); reloaded when it changes")
	fl.BoolVar(&c.noAuth, "no-auth", false, "serve without authentication even on a non-loopback address")
	fl.BoolVar(&c.appendOnly, "append-only", false, "refuse deletes (but of locks) and overwrites")
	fl.BoolVar(&c.privateRepos, "private-repos", false, "users may only reach repositories under /<user>/")
	fl.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serves HTTPS with --tls-key")
	fl.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fl.Int64Var(&c.maxSize, "max-size", 0, "largest accepted upload in bytes (0: no limit)")
	fl.BoolVar(&c.noVerifyUpload, "no-verify-upload", false, "do not check that uploads match the SHA-256 in their name")
	fl.IntVar(&c.maxRepoDepth, "max-repo-depth", 8, "how many folders deep a repository path may be")
	fl.DurationVar(&c.settleWindow, "settle-window", 10*time.Minute, "longest time an overlay record waits for the remote to confirm it")
	fl.Int64Var(&c.cacheMaxObject, "cache-max-object", 1<<20, "largest object kept in the content cache, in bytes")
	fl.Int64Var(&c.cacheBytes, "cache-bytes", 64<<20, "size of the content cache of recent small writes, in bytes")
	fl.DurationVar(&c.headerTimeout, "header-timeout", 30*time.Second, "cut off a client that has not sent its request headers in this time")
	fl.DurationVar(&c.bodyTimeout, "body-timeout", 2*time.Minute, "cut off a client that sends or reads nothing for this long during a transfer (0: never); total transfer time is not limited")
	fl.DurationVar(&c.shutdownTimeout, "shutdown-timeout", time.Minute, "how long a shutdown waits for requests in flight")
	fl.StringVar(&c.metricsListen, "metrics-listen", "", "also serve /metrics on this address (HOST:PORT)")
	fl.BoolVar(&c.metricsNoAuth, "metrics-no-auth", false, "serve /metrics without authentication")
	fl.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.BoolVar(&c.noRequestLog, "no-request-log", false, "do not log every request")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: steadyrest [flags]\n       steadyrest version\n       steadyrest healthcheck [--url URL]\n\nServes the restic REST protocol over an rclone remote.\nEvery flag can also be set as an environment variable %s<FLAG>.\n\nFlags:\n", envPrefix)
		fl.PrintDefaults()
	}

	// The environment sets defaults; the command line overrides them.
	var envErr error
	fl.VisitAll(func(f *flag.Flag) {
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("environment variable %s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flagHelp
		}
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fl.Arg(0))
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return nil, fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	return c, nil
}

// userDir returns $XDG_<kind>_HOME/steadyrest/sub, falling back to
// ~/.local/<fallback>/steadyrest/sub as the XDG base directory spec says.
func userDir(xdgVar, fallback, sub string) (string, error) {
	base := os.Getenv(xdgVar)
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find home folder: %w", err)
		}
		base = filepath.Join(home, ".local", fallback)
	}
	return filepath.Join(base, "steadyrest", sub), nil
}
