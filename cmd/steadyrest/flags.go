package main

import (
	"net/netip"
	"time"

	"github.com/spf13/pflag"

	"github.com/steadyrest/steadyrest/overlay"
)

// config is the command line of `steadyrest serve` (and of healthcheck,
// which asks the server those settings describe). Every flag is also an
// environment variable STEADYREST_<FLAG> (upper case, '-' as '_'); a peer's
// name for a flag (--addr, --path, …) sets the same thing and shares its
// variable. A flag on the command line wins over the environment.
type config struct {
	remote       string
	listen       string   // the first of listens, for code that serves one address
	listens      []string // every --listen/--addr, or "systemd:"
	rcloneConfig string
	stateDir     string
	shared       string // a Redis URL: records shared with other instances
	sharedFile   string // a file holding the --shared URL (it may hold a password)
	baseURL      string // path prefix behind a reverse proxy, "" or "/a/b"

	htpasswdFile   string
	user, pass     string // one user without an htpasswd file, as rclone's --user/--pass
	passFile       string // a file holding --pass
	userHeader     string // rest-server's --proxy-auth-username, rclone's --user-from-header
	trustedProxies []netip.Prefix
	noAuth         bool
	appendOnly     bool
	privateRepos   bool
	tls            bool // rest-server's --tls: serve HTTPS
	tlsCert        string
	tlsKey         string
	clientCA       string
	minTLSVersion  string
	maxUploadSize  int64
	maxRepoSize    int64 // rest-server's --max-size: a quota on everything stored
	noVerifyUpload bool
	maxRepoDepth   int
	maxHeaderBytes int64

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
	debug            bool   // rest-server's --debug: --log-level debug
	accessLog        string // rest-server's --log: a file, or "-" for stdout
	noRequestLog     bool

	umask           string // octal; "" keeps the inherited one
	groupAccessible bool   // rest-server's --group-accessible-repos: umask 007

	heartbeatInterval time.Duration // 0: no second-instance detection
	scrubInterval     time.Duration // 0: no background scrub (scrubjob.go)

	rclone  *rcloneFlags
	renamed []renamedFlag // old names still accepted (renamed.go)
}

// Flag groups, for --help and the documentation.
const (
	groupOwn    = "steadyrest" // steadyrest's names (some are also a peer's)
	groupPeer   = "peer"       // a peer's other name for one of ours, or refused
	groupRclone = "rclone"     // rclone's global options, from rclone's registry
	groupOld    = "old"        // our old name for one of our flags, deprecated

	annGroup = "steadyrest/group"
	annEnv   = "steadyrest/env" // the variables, lowest precedence first
	annPeer  = "steadyrest/peer"
)

// defineServeFlags adds serve's own flags to fl, writing into c, and the
// peers' names for them; each flag carries its group and variables.
func defineServeFlags(fl *pflag.FlagSet, c *config) {
	d := flagDefiner{fl}
	c.listens = []string{"127.0.0.1:8000"}
	listens := &listValue{vals: &c.listens}
	c.spoolBytes, c.cacheBytes, c.cacheMaxObject, c.maxHeaderBytes = 1<<30, 64<<20, 1<<20, 64<<10

	fl.StringVar(&c.remote, "remote", "", "rclone remote to store repositories in: REMOTE:PATH, a connection string or a local folder (default: a folder under the user's data directory)")
	d.own("remote", "rest-server --path")
	fl.Var(listens, "listen", "address to listen on: HOST:PORT, unix:/path/to/socket, or systemd: for socket activation; repeat or separate with commas for several")
	d.own("listen", "rest-server; rclone --addr", "RCLONE_ADDR")
	fl.StringVar(&c.baseURL, "baseurl", "", "serve under this path prefix, e.g. /restic, behind a reverse proxy")
	d.own("baseurl", "rclone", "RCLONE_BASEURL")
	fl.StringVar(&c.rcloneConfig, "rclone-config", "", "rclone config file (default: where rclone looks for it, or $RCLONE_CONFIG)")
	d.own("rclone-config", "rclone --config")
	fl.StringVar(&c.stateDir, "state-dir", "", "folder for the overlay journal (default: a folder under the user's state directory)")
	d.own("state-dir", "")
	fl.StringVar(&c.shared, "shared", "", "share the overlay with other instances in Redis: redis://[user:pass@]host:port/db, rediss://… (TLS) or unix:///path; the same URL on every instance serving the remote (default: the local journal, for one instance). Keep a password out of 'ps': give it in $STEADYREST_SHARED or --shared-file")
	d.own("shared", "")
	fl.StringVar(&c.sharedFile, "shared-file", "", "read the --shared URL from this file (e.g. a systemd credential or a container secret)")
	d.own("shared-file", "")

	fl.StringVar(&c.htpasswdFile, "htpasswd-file", "", "htpasswd file with the users allowed in (every scheme Apache's htpasswd writes but DES crypt); reloaded when it changes and on SIGHUP")
	d.own("htpasswd-file", "rest-server; rclone --htpasswd", "RCLONE_HTPASSWD")
	fl.StringVar(&c.user, "user", "", "one user allowed in, with --pass, without an htpasswd file")
	d.own("user", "rclone", "RCLONE_USER")
	fl.StringVar(&c.pass, "pass", "", "the password of --user; keep it out of 'ps': give it in $STEADYREST_PASS or --pass-file")
	d.own("pass", "rclone", "RCLONE_PASS")
	fl.StringVar(&c.passFile, "pass-file", "", "read the password of --user from this file (its first line)")
	d.own("pass-file", "")
	fl.StringVar(&c.userHeader, "user-from-header", "", "take the user name from this request header, set by an authenticating proxy in --trusted-proxies (e.g. Remote-User)")
	d.own("user-from-header", "rclone; rest-server --proxy-auth-username", "RCLONE_USER_FROM_HEADER")
	fl.Var(&prefixList{&c.trustedProxies}, "trusted-proxies", "addresses (CIDR,…) whose --user-from-header is believed (default: loopback only)")
	d.own("trusted-proxies", "")
	fl.BoolVar(&c.noAuth, "no-auth", false, "serve without authentication even on a non-loopback address")
	d.own("no-auth", "rest-server")
	fl.BoolVar(&c.appendOnly, "append-only", false, "refuse deletes (but of locks) and overwrites")
	d.own("append-only", "rest-server; rclone", "RCLONE_APPEND_ONLY")
	fl.BoolVar(&c.privateRepos, "private-repos", false, "users may only reach repositories under /<user>/; only the user metrics may read /metrics and /status")
	d.own("private-repos", "rest-server; rclone", "RCLONE_PRIVATE_REPOS")

	fl.BoolVar(&c.tls, "tls", false, "serve HTTPS (needs --tls-cert and --tls-key, which default to public_key and private_key in a local --remote, as rest-server's)")
	d.own("tls", "rest-server")
	fl.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serves HTTPS; reloaded when it changes and on SIGHUP")
	d.own("tls-cert", "rest-server; rclone --cert", "RCLONE_CERT")
	fl.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	d.own("tls-key", "rest-server; rclone --key", "RCLONE_KEY")
	fl.StringVar(&c.clientCA, "client-ca", "", "require TLS client certificates signed by a CA in this PEM file (mutual TLS)")
	d.own("client-ca", "rclone", "RCLONE_CLIENT_CA")
	fl.StringVar(&c.minTLSVersion, "min-tls-version", "tls1.2", "oldest TLS version accepted: tls1.0, tls1.1, tls1.2 or tls1.3")
	d.own("min-tls-version", "rclone; rest-server --tls-min-ver", "RCLONE_MIN_TLS_VERSION")

	fl.Var(sizeValue{&c.maxUploadSize}, "max-upload-size", "largest accepted upload (0: no limit; 413 above it)")
	d.own("max-upload-size", "")
	fl.Var(sizeValue{&c.maxRepoSize}, "max-size", "quota on all data stored (0: none; 507 when a write would pass it)")
	d.own("max-size", "rest-server")
	fl.BoolVar(&c.noVerifyUpload, "no-verify-upload", false, "do not check that uploads match the SHA-256 in their name")
	d.own("no-verify-upload", "rest-server")
	fl.IntVar(&c.maxRepoDepth, "max-repo-depth", 8, "how many folders deep a repository path may be")
	d.own("max-repo-depth", "")
	fl.Var(sizeValue{&c.maxHeaderBytes}, "max-header-bytes", "largest request header accepted")
	d.own("max-header-bytes", "rclone", "RCLONE_MAX_HEADER_BYTES")

	fl.DurationVar(&c.settleWindow, "settle-window", 10*time.Minute, "longest time an overlay record waits for the remote to confirm it")
	d.own("settle-window", "")
	fl.DurationVar(&c.lockUploadDelay, "lock-upload-delay", 5*time.Second, "acknowledge a lock from the overlay and upload it only if it still exists this long after (0: upload every lock before answering)")
	d.own("lock-upload-delay", "")
	fl.DurationVar(&c.heartbeatInterval, "heartbeat-interval", overlay.DefaultHeartbeatInterval, "how often to write this instance's heartbeat on the remote and look for other instances serving the same path without a shared overlay (0: neither)")
	d.own("heartbeat-interval", "")
	fl.DurationVar(&c.scrubInterval, "scrub-interval", 0, "every this long, check every object of the served repositories against its SHA-256 name with the remote's own hash, as 'steadyrest scrub' does, never downloading or writing; the first run is one interval after the start (0: off). A run lists every folder and asks each object's hash: on pCloud one checksum call per object, on a local folder the disk reads every file, hence off by default")
	d.own("scrub-interval", "")
	fl.Var(sizeValue{&c.cacheMaxObject}, "cache-max-object", "largest object kept in the content cache")
	d.own("cache-max-object", "")
	fl.Var(sizeValue{&c.cacheBytes}, "cache-bytes", "size of the content cache of recent small writes (0: none)")
	d.own("cache-bytes", "")
	fl.Var(sizeValue{&c.spoolBytes}, "spool-bytes", "disk space in the state folder for recent uploads above --cache-max-object, read from there until the remote can serve them (0: no spool)")
	d.own("spool-bytes", "")
	fl.DurationVar(&c.headerTimeout, "header-timeout", 30*time.Second, "cut off a client that has not sent its request headers in this time")
	d.own("header-timeout", "")
	fl.DurationVar(&c.bodyTimeout, "body-timeout", 2*time.Minute, "cut off a client that sends or reads nothing for this long during a transfer (0: never); total transfer time is not limited")
	d.own("body-timeout", "")
	fl.DurationVar(&c.shutdownTimeout, "shutdown-timeout", time.Minute, "how long a shutdown (SIGTERM, SIGINT) waits for requests in flight")
	d.own("shutdown-timeout", "")

	fl.StringVar(&c.metricsListen, "metrics-listen", "", "also serve /metrics on this address (HOST:PORT)")
	d.own("metrics-listen", "")
	fl.BoolVar(&c.metricsNoAuth, "metrics-no-auth", false, "serve /metrics without authentication on the --metrics-listen address (the API's /metrics keeps its auth)")
	d.own("metrics-no-auth", "")
	fl.BoolVar(&c.prometheusNoAuth, "prometheus-no-auth", false, "serve /metrics without authentication on the API's address")
	d.own("prometheus-no-auth", "rest-server")
	fl.StringVar(&c.logFormat, "log-format", "text", "log format: text or json (rclone's lines too)")
	d.own("log-format", "")
	fl.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	d.own("log-level", "")
	fl.BoolVar(&c.debug, "debug", false, "same as --log-level debug")
	d.own("debug", "rest-server")
	fl.StringVar(&c.accessLog, "log", "", "write an access log in the combined log format to this file, or - for standard output; reopened on SIGHUP")
	d.own("log", "rest-server")
	fl.BoolVar(&c.noRequestLog, "no-request-log", false, "do not log every request in the server log")
	d.own("no-request-log", "")
	fl.StringVar(&c.umask, "umask", "077", "file mode creation mask, octal: files and folders on a local remote and in --state-dir are the owner's alone (0600/0700, as rest-server's); 022 makes them world-readable")
	d.own("umask", "")
	fl.BoolVar(&c.groupAccessible, "group-accessible-repos", false, "let the group read and write what a local remote holds (umask 007)")
	d.own("group-accessible-repos", "rest-server")

	definePeerFlags(d, c)    // peerflags.go
	defineRenamedFlags(d, c) // renamed.go
}

// flagDefiner records each flag's group and variables as annotations.
type flagDefiner struct{ fl *pflag.FlagSet }

// own marks name as steadyrest's, with its STEADYREST_ variable after
// the peers' (lower precedence); peer says which peer shares the name or
// what it calls it.
func (d flagDefiner) own(name, peer string, peerEnv ...string) {
	f := d.fl.Lookup(name)
	f.Annotations = map[string][]string{
		annGroup: {groupOwn},
		annEnv:   append(peerEnv, envName(name)),
		annPeer:  {peer},
	}
}
