// Command steadyrest serves the restic REST protocol over any rclone remote,
// with a read-your-writes overlay that makes an eventually consistent cloud
// look strongly consistent to restic.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/rclone/rclone/backend/all" // every rclone backend, pCloud included
	"github.com/rclone/rclone/fs"
	rconfig "github.com/rclone/rclone/fs/config"
	"github.com/rclone/rclone/fs/config/configfile"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/steadyrest/steadyrest/health"
	_ "github.com/steadyrest/steadyrest/internal/lagfs" // the "lag" test backend, for reproducing a lagging cloud
	"github.com/steadyrest/steadyrest/metrics"
	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/proxy"
	"github.com/steadyrest/steadyrest/status"
)

// version is set at build time with -ldflags "-X main.version=..."
// (version.go).
var version = ""

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr)) // cli.go
}

// serveMain runs the server until SIGTERM or SIGINT; SIGHUP reloads the
// htpasswd file, the TLS certificate and the access log, and never stops it.
func serveMain(cfg *config, stderr io.Writer) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := setUmask(cfg.umask); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	installLogger(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runWithReload(ctx, cfg, log, hup); err != nil {
		log.Error("steadyrest stopped", "err", err)
		return exitStatus(exitFailure)
	}
	return nil
}

func run(ctx context.Context, cfg *config, log *slog.Logger) error {
	return runWithReload(ctx, cfg, log, nil)
}

// runWithReload serves until ctx ends, reloading on every value of hup.
func runWithReload(ctx context.Context, cfg *config, log *slog.Logger, hup <-chan os.Signal) error {
	warnRenamed(cfg, log) // renamed.go
	f, err := openRemote(ctx, cfg, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.WithLogger(log))
	metrics.SetBuildInfo(versionString(), buildRevision())
	rec := newStatusRecorder()
	store, peers, err := openStore(f, cfg, log, m, rec)
	if err != nil {
		return err
	}
	defer closeStore(store, peers, log)
	var reload reloaders
	auth, closeAuth, err := loadAuth(cfg, log, &reload)
	if err != nil {
		return err
	}
	defer closeAuth()
	ln, err := listenAPI(cfg, log, auth, &reload)
	if err != nil {
		return err
	}
	parts := &wired{cfg: cfg, log: log, remote: f, store: store, peers: peers, auth: auth, metrics: m, registry: reg, recorder: rec}
	if job, stopScrub := startScrubJob(ctx, parts); job != nil { // scrubjob.go
		defer stopScrub()
		parts.scrubStatus = job.Status
	}
	api, metricsOnly, err := buildHandlers(ctx, parts)
	if err != nil {
		ln.Close()
		return err
	}
	api, closeLog, err := withAccessLog(cfg, api, &reload) // accesslog.go
	if err != nil {
		ln.Close()
		return err
	}
	defer closeLog()
	go reload.onSignal(ctx, hup, log)
	scheme := "http"
	if cfg.tlsCert != "" {
		scheme = "https"
	}
	log.Info("steadyrest serving", "addr", ln.Addr().String(), "scheme", scheme, "remote", fs.ConfigString(f),
		"state_dir", cfg.stateDir, "overlay", overlayMode(cfg), "version", versionString())
	return serve(ctx, cfg, log, store, peers, ln, api, metricsOnly)
}

// openStore opens the overlay over f, with its journal in --state-dir, and
// starts second-instance detection (peers is nil with
// --heartbeat-interval 0); it feeds their events and state to m and to the
// status page's recorder.
func openStore(f fs.Fs, cfg *config, log *slog.Logger, m *metrics.Metrics, rec *status.Recorder) (store *overlay.Store, peers *overlay.PeerWatch, err error) {
	obs := statusObserver{metricsObserver{m}, rec}
	store, err = overlay.New(f, overlay.Options{
		StateDir:          cfg.stateDir,
		Shared:            cfg.shared,
		SettleWindow:      cfg.settleWindow,
		LockUploadDelay:   cfg.lockUploadDelay,
		AppendOnly:        cfg.appendOnly,
		ContentCacheBytes: noneIsNegative(cfg.cacheBytes),
		ContentMaxObject:  cfg.cacheMaxObject,
		SpoolBytes:        cfg.spoolBytes,
		Observer:          obs,
		Logger:            log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open overlay: %w", err)
	}
	if peers, err = startPeers(f, cfg, store, obs, log); err != nil {
		_ = store.Close()
		return nil, nil, err
	}
	m.SetOverlayGauges(overlayGauges(store, peers))
	return store, peers, nil
}

func closeStore(store *overlay.Store, peers *overlay.PeerWatch, log *slog.Logger) {
	peers.Close()
	if err := store.Close(); err != nil {
		log.Error("close overlay", "err", err)
	}
}

// loadAuth loads --htpasswd-file and adds the --user/--pass user; with
// neither, auth is nil and everyone is let in. closeAuth must run when
// serving ends.
func loadAuth(cfg *config, log *slog.Logger, reload *reloaders) (auth proxy.Authenticator, closeAuth func(), err error) {
	closeAuth = func() {}
	if cfg.htpasswdFile != "" {
		h, err := proxy.LoadHtpasswd(cfg.htpasswdFile, log)
		if err != nil {
			return nil, nil, fmt.Errorf("load htpasswd: %w", err)
		}
		auth, closeAuth = h, func() { _ = h.Close() }
		reload.add("htpasswd "+cfg.htpasswdFile, h.Reload)
	}
	// One limiter for the API, /metrics and /status: one budget of
	// password checks and one backoff per client address.
	return proxy.LimitLogins(withFlagUser(auth, cfg), log), closeAuth, nil
}

// listenAPI listens on every --listen address (or systemd's sockets), and
// refuses to serve an address other machines reach without authentication
// unless --no-auth says a proxy in front authenticates.
func listenAPI(cfg *config, log *slog.Logger, auth proxy.Authenticator, reload *reloaders) (net.Listener, error) {
	ln, err := listenAll(cfg, log, reload)
	if err != nil {
		return nil, err
	}
	if auth == nil && !cfg.noAuth && !isLoopback(ln.Addr()) {
		ln.Close()
		return nil, fmt.Errorf("refusing to serve %s without authentication: give --htpasswd-file or --user/--pass, or --no-auth if a proxy in front authenticates", ln.Addr())
	}
	return ln, nil
}

// wired is what runWithReload has opened and the handlers are built from.
type wired struct {
	cfg      *config
	log      *slog.Logger
	remote   fs.Fs
	store    *overlay.Store
	peers    *overlay.PeerWatch // nil: peer detection is off
	auth     proxy.Authenticator
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	recorder *status.Recorder
	// scrubStatus reads the background scrub's state; nil: it is off.
	scrubStatus func() status.Scrub
}

// buildHandlers returns the handler of the main listener (the REST API and
// the service routes, below --baseurl) and the one of --metrics-listen
// (/metrics alone).
func buildHandlers(ctx context.Context, w *wired) (api, metricsOnly http.Handler, err error) {
	cfg, log, store, m := w.cfg, w.log, w.store, w.metrics
	quota, err := startQuota(ctx, cfg, store, log)
	if err != nil {
		return nil, nil, err
	}
	// Repository health, bounded by the metrics' rule on repositories.
	tracker := health.New(healthClock(), metrics.NewRepoCap(metrics.MaxRepos).Admit)
	m.SetHealth(tracker)
	handler, err := proxy.New(store, proxy.Options{
		AppendOnly:     cfg.appendOnly,
		PrivateRepos:   cfg.privateRepos,
		NoVerifyUpload: cfg.noVerifyUpload,
		MaxSize:        cfg.maxUploadSize,
		MaxRepoDepth:   cfg.maxRepoDepth,
		Auth:           w.auth,
		Logger:         requestLogger(cfg, log),
		Observer:       withHealth(tracker, withStatusRequests(w.recorder, requestObserver(m))),
		Quota:          quota,
		UserHeader:     cfg.userHeader,
		TrustedProxies: cfg.trustedProxies,

		IdleBodyTimeout: cfg.bodyTimeout,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("set up protocol handler: %w", err)
	}
	apiMetrics, listenerMetrics := guardMetrics(cfg, w.auth, m.Handler(w.registry), log)
	api = proxy.BaseURL(cfg.baseURL, &proxy.Routes{
		Healthz: http.HandlerFunc(proxy.Healthz),
		Readyz:  proxy.NewReadiness(store.Ready).Warn(peerWarning(w.peers)),
		Metrics: apiMetrics,
		Status:  statusHandler(w, tracker),
		API:     m.Middleware(handler),
	})
	return api, &proxy.Routes{Metrics: listenerMetrics}, nil
}

// serve answers on ln, and on --metrics-listen when given, until ctx ends
// (then shuts down) or a server fails.
func serve(ctx context.Context, cfg *config, log *slog.Logger, store *overlay.Store, peers *overlay.PeerWatch, ln net.Listener, api, metricsOnly http.Handler) error {
	// Requests run under reqCtx, so that a shutdown past its timeout
	// cancels their remote calls instead of leaving them running.
	reqCtx, cutRequests := context.WithCancel(context.Background())
	defer cutRequests()
	var fresh freshConns
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ConnState:         fresh.track,
		Handler:           api,
		ReadHeaderTimeout: cfg.headerTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    int(cfg.maxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Shutdown calls this once it has closed the listeners (freshConns
	// says why).
	srv.RegisterOnShutdown(fresh.closeAll)
	errc := make(chan error, 2)
	var metricsSrv *http.Server
	if cfg.metricsListen != "" {
		mln, err := net.Listen("tcp", cfg.metricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics on %s: %w", cfg.metricsListen, err)
		}
		metricsSrv = &http.Server{Handler: metricsOnly, ReadHeaderTimeout: 30 * time.Second}
		log.Info("serving metrics", "addr", mln.Addr().String())
		go func() { errc <- metricsSrv.Serve(mln) }()
	}
	go func() { errc <- srv.Serve(ln) }() // TLS, if any, is on ln (listenAll)
	sdNotify(log, "READY=1")
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sdNotify(log, "STOPPING=1")
	shutdown(log, cfg.shutdownTimeout, store, peers, cutRequests, srv, metricsSrv)
	return nil
}

// shutdown stops the background work at once, lets the requests in flight
// finish within timeout, and then cuts those still running: their clients
// were never told their writes were saved, and the journal only ever holds
// writes the remote confirmed, so a cut request loses nothing acknowledged.
// The journal is closed after this returns (closeStore).
func shutdown(log *slog.Logger, timeout time.Duration, store *overlay.Store, peers *overlay.PeerWatch, cutRequests context.CancelFunc, servers ...*http.Server) {
	log.Info("shutting down: finishing requests in flight", "timeout", timeout)
	peers.Stop()
	store.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, srv := range servers {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("requests still in flight at the shutdown timeout: cutting them", "err", err)
			cutRequests()
			_ = srv.Close()
		}
	}
	log.Info("stopped")
}

// requestLogger is the logger the proxy logs requests to: discarded with
// --no-request-log.
func requestLogger(cfg *config, log *slog.Logger) *slog.Logger {
	if cfg.noRequestLog {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// openRemote sets rclone up the way its own command line would (config
// file, RCLONE_* environment variables) and opens the remote.
func openRemote(ctx context.Context, cfg *config, log *slog.Logger) (fs.Fs, error) {
	if cfg.rcloneConfig != "" {
		if err := rconfig.SetConfigPath(cfg.rcloneConfig); err != nil {
			return nil, fmt.Errorf("rclone config %q: %w", cfg.rcloneConfig, err)
		}
	} else if p := os.Getenv("RCLONE_CONFIG"); p != "" {
		if err := rconfig.SetConfigPath(p); err != nil {
			return nil, fmt.Errorf("rclone config %q: %w", p, err)
		}
	}
	configfile.Install()
	if err := setupRclone(ctx, cfg); err != nil { // rcloneopts.go
		return nil, err
	}
	remote := cfg.remote
	if remote == "" {
		dir, err := userDir("XDG_DATA_HOME", "share", "repos")
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create default repository folder: %w", err)
		}
		log.Info("no --remote given: storing repositories in a local folder", "path", dir)
		remote = dir
	}
	f, err := fs.NewFs(ctx, remote)
	if errors.Is(err, fs.ErrorIsFile) {
		return nil, fmt.Errorf("remote %q is a file, not a folder", redactText(remote))
	}
	if err != nil {
		return nil, fmt.Errorf("open remote %q: %w", redactText(remote), err)
	}
	return f, nil
}

func listen(cfg *config) (net.Listener, error) {
	if path, ok := strings.CutPrefix(cfg.listen, "unix:"); ok {
		// A socket left over by a crashed instance would block the bind.
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("create socket folder: %w", err)
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.listen, err)
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	return ln, nil // TLS: listenAll (listeners.go)
}

// isLoopback reports whether only this machine can reach addr. A unix
// socket counts: file permissions guard it.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return true
	}
	return tcp.IP.IsLoopback()
}

// noneIsNegative maps a size flag's 0 ("none", as every size flag says it)
// to the negative value by which overlay.Options turns a feature off; its
// own zero means "the default".
func noneIsNegative(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}
