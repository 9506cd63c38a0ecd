package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/cache"
)

// config is the command line. Every flag can also be set as an environment
// variable STEADYREST_<FLAG> (upper case, '-' as '_'), for containers; a
// flag given on the command line wins over the environment.
type config struct {
	remote       string
	listen       string   // the first of listens, for code that serves one address
	listens      []string // every --listen/--addr, or "systemd:"
	rcloneConfig string
	stateDir     string
	overlay      string // a Redis URL: records shared with other instances
	baseURL      string // path prefix behind a reverse proxy, "" or "/a/b"

	htpasswdFile   string
	user, pass     string // one user without an htpasswd file, as rclone's --user/--pass
	noAuth         bool
	appendOnly     bool
	privateRepos   bool
	tlsCert        string
	tlsKey         string
	clientCA       string
	minTLSVersion  string
	maxUploadSize  int64
	maxRepoSize    int64 // rest-server's --max-size: a quota on everything stored
	noVerifyUpload bool
	maxRepoDepth   int

	settleWindow     time.Duration
	lockUploadDelay  time.Duration
	cacheMaxObject   int64
	cacheBytes       int64
	spoolBytes       int64
	shutdownTimeout  time.Duration
	headerTimeout    time.Duration
	bodyTimeout      time.Duration
	metricsListen    string
	metricsNoAuth    bool // on the --metrics-listen address only
	prometheusNoAuth bool // rest-server's: /metrics on the API's address
	logFormat        string
	logLevel         string
	noRequestLog     bool

	heartbeatInterval time.Duration // 0: no second-instance detection

	rclone *rcloneFlags
}

const envPrefix = "STEADYREST_"

// flagHelp reports that --help was asked for and printed.
var flagHelp = errors.New("help requested")

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fl := flag.NewFlagSet("steadyrest", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listens := &listValue{vals: []string{"127.0.0.1:8000"}, fromEnv: true}
	var (
		debug, showVersion, prometheus bool
		maxUpload, maxRepo             = sizeValue{&c.maxUploadSize}, sizeValue{&c.maxRepoSize}
		spool                          = sizeValue{&c.spoolBytes}
	)
	// aliases are the peers' names for our flags (see the README's table);
	// they have no STEADYREST_ variable of their own.
	aliases := map[string]bool{}
	alias := func(name string) string { aliases[name] = true; return name }

	fl.StringVar(&c.remote, "remote", "", "rclone remote to store repositories in, as REMOTE:PATH, a connection string or a local folder (default: a folder under the user's data directory)")
	fl.StringVar(&c.remote, alias("path"), "", "same as --remote (rest-server)")
	fl.Var(listens, "listen", "address to listen on, HOST:PORT, unix:/path/to/socket, or systemd: for socket activation; repeat for several (default 127.0.0.1:8000)")
	fl.Var(listens, alias("addr"), "same as --listen (rclone)")
	fl.StringVar(&c.baseURL, "baseurl", "", "serve under this path prefix, e.g. /restic, behind a reverse proxy (rclone)")
	fl.StringVar(&c.rcloneConfig, "rclone-config", "", "rclone config file (default: where rclone looks for it, or $RCLONE_CONFIG)")
	fl.StringVar(&c.rcloneConfig, alias("config"), "", "same as --rclone-config (rclone)")
	fl.StringVar(&c.stateDir, "state-dir", "", "folder for the overlay journal (default: a folder under the user's state directory)")
	fl.StringVar(&c.overlay, "overlay", "", "share the overlay with other instances in Redis: redis://[user:pass@]host:port/db, rediss://… (TLS) or unix:///path/to/socket; give every instance serving the remote the same URL (default: the local journal, for one instance)")
	fl.StringVar(&c.htpasswdFile, "htpasswd-file", "", "htpasswd file with the users allowed in (bcrypt or SHA1); reloaded when it changes")
	fl.StringVar(&c.htpasswdFile, alias("htpasswd"), "", "same as --htpasswd-file (rclone)")
	fl.StringVar(&c.user, "user", "", "one user allowed in, with --pass, without an htpasswd file (rclone)")
	fl.StringVar(&c.pass, "pass", "", "the password of --user (rclone)")
	fl.BoolVar(&c.noAuth, "no-auth", false, "serve without authentication even on a non-loopback address")
	fl.BoolVar(&c.appendOnly, "append-only", false, "refuse deletes (but of locks) and overwrites")
	fl.BoolVar(&c.privateRepos, "private-repos", false, "users may only reach repositories under /<user>/; only the user metrics may read /metrics")
	fl.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serves HTTPS with --tls-key; reloaded when it changes")
	fl.StringVar(&c.tlsCert, alias("cert"), "", "same as --tls-cert (rclone)")
	fl.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fl.StringVar(&c.tlsKey, alias("key"), "", "same as --tls-key (rclone)")
	fl.StringVar(&c.clientCA, "client-ca", "", "require TLS client certificates signed by a CA in this PEM file (mutual TLS)")
	fl.StringVar(&c.minTLSVersion, "min-tls-version", "tls1.2", "oldest TLS version accepted: tls1.0, tls1.1, tls1.2 or tls1.3")
	fl.Var(maxUpload, "max-upload-size", "largest accepted upload, in bytes or with a K, M, G, T suffix (0: no limit; 413 above it)")
	fl.Var(maxRepo, "max-size", "quota on all data stored, in bytes or with a K, M, G, T suffix (0: none; 507 when a write would pass it), as rest-server's")
	fl.BoolVar(&c.noVerifyUpload, "no-verify-upload", false, "do not check that uploads match the SHA-256 in their name")
	fl.IntVar(&c.maxRepoDepth, "max-repo-depth", 8, "how many folders deep a repository path may be")
	fl.DurationVar(&c.settleWindow, "settle-window", 10*time.Minute, "longest time an overlay record waits for the remote to confirm it")
	fl.DurationVar(&c.lockUploadDelay, "lock-upload-delay", 5*time.Second, "acknowledge a lock from the overlay and upload it only if it still exists this long after (0: upload every lock before answering)")
	fl.DurationVar(&c.heartbeatInterval, "heartbeat-interval", cache.DefaultHeartbeatInterval, "how often to write this instance's heartbeat on the remote (under .steadyrest/instances/) and look for other instances serving the same remote path without a shared overlay (0: neither)")
	fl.Int64Var(&c.cacheMaxObject, "cache-max-object", 1<<20, "largest object kept in the content cache, in bytes")
	fl.Int64Var(&c.cacheBytes, "cache-bytes", 64<<20, "size of the content cache of recent small writes, in bytes")
	c.spoolBytes = 1 << 30
	fl.Var(spool, "spool-bytes", "disk space in the state folder for recent uploads above --cache-max-object, read from there until the remote can serve them, in bytes or with a K, M, G, T suffix (0: no spool)")
	fl.DurationVar(&c.headerTimeout, "header-timeout", 30*time.Second, "cut off a client that has not sent its request headers in this time")
	fl.DurationVar(&c.bodyTimeout, "body-timeout", 2*time.Minute, "cut off a client that sends or reads nothing for this long during a transfer (0: never); total transfer time is not limited")
	fl.DurationVar(&c.shutdownTimeout, "shutdown-timeout", time.Minute, "how long a shutdown waits for requests in flight")
	fl.StringVar(&c.metricsListen, "metrics-listen", "", "also serve /metrics on this address (HOST:PORT)")
	fl.BoolVar(&c.metricsNoAuth, "metrics-no-auth", false, "serve /metrics without authentication on the --metrics-listen address (the API's /metrics keeps its auth)")
	fl.BoolVar(&c.prometheusNoAuth, alias("prometheus-no-auth"), false, "serve /metrics without authentication on the API's address (rest-server)")
	fl.BoolVar(&prometheus, alias("prometheus"), false, "accepted for rest-server: /metrics is always served")
	fl.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.BoolVar(&debug, alias("debug"), false, "same as --log-level debug (rest-server)")
	fl.BoolVar(&c.noRequestLog, "no-request-log", false, "do not log every request")
	fl.BoolVar(&showVersion, alias("version"), false, "print the version and exit")
	own := map[string]bool{}
	fl.VisitAll(func(f *flag.Flag) { own[f.Name] = true })

	// The environment sets defaults; the command line overrides them.
	var envErr error
	fl.VisitAll(func(f *flag.Flag) {
		if aliases[f.Name] {
			return
		}
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
	listens.fromCommandLine()
	// rclone's own options come after the environment loop: they read
	// RCLONE_* variables, not STEADYREST_* ones.
	c.rclone = registerRcloneFlags(fl)
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: steadyrest [flags]\n       steadyrest version\n       steadyrest healthcheck [--url URL]\n\nServes the restic REST protocol over an rclone remote.\nEvery flag can also be set as an environment variable %s<FLAG>.\n\nFlags:\n", envPrefix)
		printFlags(fl, stderr, func(name string) bool { return own[name] })
		fmt.Fprintf(stderr, "\nrclone's global options work as in rclone (--tpslimit, --bwlimit, --timeout, --contimeout,\n--low-level-retries, --user-agent, -v, -vv, …; see `rclone help flags`), as flags or RCLONE_* variables.\n")
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flagHelp
		}
		return nil, err
	}
	if showVersion {
		fmt.Fprintf(stderr, "steadyrest %s\n", versionString())
		return nil, flagHelp
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fl.Arg(0))
	}
	c.listens = listens.vals
	if len(c.listens) == 0 {
		return nil, errors.New("--listen: no address")
	}
	c.listen = c.listens[0]
	if debug || c.rclone.verbose >= 2 {
		c.logLevel = "debug"
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// check refuses values that would fail later, or make no sense together,
// with a message that names the flag.
func (c *config) check() error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.clientCA != "" && c.tlsCert == "" {
		return errors.New("--client-ca needs TLS: give --tls-cert and --tls-key too")
	}
	if _, err := parseTLSVersion(c.minTLSVersion); err != nil {
		return err
	}
	if c.heartbeatInterval < 0 {
		return fmt.Errorf("--heartbeat-interval must not be negative (0 turns heartbeats off), not %s", c.heartbeatInterval)
	}
	if c.lockUploadDelay < 0 {
		return fmt.Errorf("--lock-upload-delay must not be negative (0 uploads every lock at once), not %s", c.lockUploadDelay)
	}
	if (c.user == "") != (c.pass == "") {
		return errors.New("--user and --pass go together")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	if strings.EqualFold(c.logLevel, "notice") { // rclone's level between info and warn
		c.logLevel = "info"
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level must be debug, info, warn or error, not %q", c.logLevel)
	}
	base, err := cleanBaseURL(c.baseURL)
	if err != nil {
		return err
	}
	c.baseURL = base
	return checkOverlayURL(c.overlay)
}

// checkOverlayURL refuses an --overlay that is not a Redis URL; the Redis
// client checks the rest when the store opens.
func checkOverlayURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("--overlay: %w", err)
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
		return nil
	}
	return fmt.Errorf("--overlay %q must be a redis://, rediss:// or unix:// URL", redactURL(s))
}

// redactURL hides the password of a URL, for logs and the status page.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// cleanBaseURL checks a --baseurl: a leading slash, plain path segments
// (no escaping needed, so that the prefix matches the raw request path),
// and drops a trailing slash. "/" is no prefix.
func cleanBaseURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if !strings.HasPrefix(s, "/") {
		return "", fmt.Errorf("--baseurl %q must start with a slash, e.g. /%s", s, s)
	}
	s = strings.TrimRight(s, "/")
	for _, seg := range strings.Split(strings.TrimPrefix(s, "/"), "/") {
		if seg == "" && s != "" || seg == "." || seg == ".." || strings.ContainsFunc(seg, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
		}) {
			return "", fmt.Errorf("--baseurl %q: segments may hold letters, digits and - . _ ~ only", s)
		}
	}
	return s, nil
}

// printFlags prints the flags that keep(name) selects, as PrintDefaults.
func printFlags(fl *flag.FlagSet, w io.Writer, keep func(string) bool) {
	out := flag.NewFlagSet("", flag.ContinueOnError)
	out.SetOutput(w)
	fl.VisitAll(func(f *flag.Flag) {
		if keep(f.Name) {
			out.Var(f.Value, f.Name, f.Usage)
		}
	})
	out.PrintDefaults()
}

// listValue is a repeatable flag. The first use on the command line
// replaces what the default or the environment gave; the environment may
// give several, separated by commas.
type listValue struct {
	vals    []string
	fromEnv bool // set by the environment: split on commas
	touched bool // Set since the last reset
}

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, ",")
}

func (l *listValue) Set(s string) error {
	if !l.touched {
		l.vals, l.touched = nil, true
	}
	if l.fromEnv {
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				l.vals = append(l.vals, v)
			}
		}
		return nil
	}
	l.vals = append(l.vals, s)
	return nil
}

// fromCommandLine marks the end of the environment: the next Set starts a
// new list.
func (l *listValue) fromCommandLine() { l.touched, l.fromEnv = false, false }

// sizeValue is a byte count: plain bytes (as rest-server's --max-size), or
// with rclone's binary suffixes (10G). Not rclone's parser alone: it takes
// a plain number as KiB.
type sizeValue struct{ n *int64 }

func (v sizeValue) String() string {
	if v.n == nil {
		return "0"
	}
	return strconv.FormatInt(*v.n, 10)
}

func (v sizeValue) Set(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return fmt.Errorf("negative size %d", n)
		}
		*v.n = n
		return nil
	}
	var ss fs.SizeSuffix
	if err := ss.Set(s); err != nil {
		return fmt.Errorf("size %q: want bytes or a number with K, M, G or T", s)
	}
	if ss < 0 {
		return fmt.Errorf("negative size %q", s)
	}
	*v.n = int64(ss)
	return nil
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
