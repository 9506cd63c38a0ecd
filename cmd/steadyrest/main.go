// Command steadyrest serves the restic REST protocol over any rclone remote,
// with a read-your-writes overlay that makes an eventually consistent cloud
// look strongly consistent to restic.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	_ "github.com/rclone/rclone/backend/all" // every rclone backend, pCloud included
	"github.com/rclone/rclone/fs"
	rconfig "github.com/rclone/rclone/fs/config"
	"github.com/rclone/rclone/fs/config/configfile"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/steadyrest/steadyrest/cache"
	_ "github.com/steadyrest/steadyrest/lagfs" // the "lag" test backend, for reproducing a lagging cloud
	"github.com/steadyrest/steadyrest/metrics"
	"github.com/steadyrest/steadyrest/proxy"
	"github.com/steadyrest/steadyrest/status"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "steadyrest %s\n", versionString())
			return 0
		case "healthcheck":
			return healthcheck(args[1:], stderr)
		case "probe":
			return probeMain(args[1:], stdout, stderr)
		}
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flagHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "steadyrest: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log) // rclone logs through slog's default logger
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("steadyrest stopped", "err", err)
		return 1
	}
	return 0
}

func versionString() string {
	v := version
	bi, ok := debug.ReadBuildInfo()
	if v == "" && ok {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("%s (rclone %s)", v, rcloneVersion(bi))
}

// buildRevision is the VCS revision the binary was built from, if known.
func buildRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

func rcloneVersion(bi *debug.BuildInfo) string {
	if bi != nil {
		for _, d := range bi.Deps {
			if d.Path == "github.com/rclone/rclone" {
				return d.Version
			}
		}
	}
	return "unknown"
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func run(ctx context.Context, cfg *config, log *slog.Logger) error {
	f, err := openRemote(ctx, cfg, log)
	if err != nil {
		return err
	}
	if cfg.stateDir == "" {
		if cfg.stateDir, err = userDir("XDG_STATE_HOME", "state", ""); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.WithLogger(log))
	metrics.SetBuildInfo(versionString(), buildRevision())
	rec := status.NewRecorder()
	store, err := cache.New(f, cache.Options{
		StateDir:          cfg.stateDir,
		SettleWindow:      cfg.settleWindow,
		ContentCacheBytes: cfg.cacheBytes,
		ContentMaxObject:  cfg.cacheMaxObject,
		Observer:          statusObserver{cacheObserver{m}, rec},
		Logger:            slog.New(rec.LogHandler(log.Handler())),
	})
	if err != nil {
		return fmt.Errorf("open overlay: %w", err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close overlay", "err", err)
		}
	}()
	m.SetOverlayGauges(overlayGauges(store))

	var auth proxy.Authenticator
	if cfg.htpasswdFile != "" {
		h, err := proxy.LoadHtpasswd(cfg.htpasswdFile, log)
		if err != nil {
			return fmt.Errorf("load htpasswd: %w", err)
		}
		defer h.Close()
		auth = h
	}

	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	if auth == nil && !cfg.noAuth && !isLoopback(ln.Addr()) {
		ln.Close()
		return fmt.Errorf("refusing to serve %s without authentication: give --htpasswd-file, or --no-auth if a proxy in front authenticates", ln.Addr())
	}

	handler, err := proxy.New(store, proxy.Options{
		AppendOnly:     cfg.appendOnly,
		PrivateRepos:   cfg.privateRepos,
		NoVerifyUpload: cfg.noVerifyUpload,
		MaxSize:        cfg.maxSize,
		MaxRepoDepth:   cfg.maxRepoDepth,
		Auth:           auth,
		Logger:         requestLogger(cfg, log),
		Observer:       withStatusRequests(rec, requestObserver(m)),

		IdleBodyTimeout: cfg.bodyTimeout,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("set up protocol handler: %w", err)
	}

	metricsHandler := m.Handler(reg)
	if !cfg.metricsNoAuth {
		metricsHandler = proxy.RequireAuth(auth, metricsHandler)
	}
	mux := &routes{
		healthz: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }),
		readyz:  &readiness{store: store},
		metrics: metricsHandler,
		api:     m.Middleware(handler),
	}

	srv := &http.Server{
		Handler:           status.Route(statusHandler(rec, store, cfg, f, auth, log), mux),
		ReadHeaderTimeout: cfg.headerTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.tlsCert != "" {
		scheme = "https"
	}
	log.Info("steadyrest serving", "addr", ln.Addr().String(), "scheme", scheme, "remote", fs.ConfigString(f),
		"state_dir", cfg.stateDir, "version", versionString())

	errc := make(chan error, 2)
	var metricsSrv *http.Server
	if cfg.metricsListen != "" {
		mln, err := net.Listen("tcp", cfg.metricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics on %s: %w", cfg.metricsListen, err)
		}
		metricsSrv = &http.Server{Handler: &routes{metrics: metricsHandler}, ReadHeaderTimeout: 30 * time.Second}
		log.Info("serving metrics", "addr", mln.Addr().String())
		go func() { errc <- metricsSrv.Serve(mln) }()
	}
	go func() {
		if cfg.tlsCert != "" {
			errc <- srv.ServeTLS(ln, cfg.tlsCert, cfg.tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight", "timeout", cfg.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	log.Info("stopped")
	return nil
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
	if err := fs.GlobalOptionsInit(); err != nil {
		return nil, fmt.Errorf("rclone options from the environment: %w", err)
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
		return nil, fmt.Errorf("remote %q is a file, not a folder", remote)
	}
	if err != nil {
		return nil, fmt.Errorf("open remote %q: %w", remote, err)
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
	if cfg.tlsCert != "" {
		// Load once now so that a bad certificate fails the start, not the
		// first request.
		if _, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey); err != nil {
			ln.Close()
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
	}
	return ln, nil
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

// healthcheck is for container HEALTHCHECKs, where there is no curl.
func healthcheck(args []string, stderr io.Writer) int {
	url := "http://127.0.0.1:8000/healthz"
	if len(args) == 2 && args[0] == "--url" {
		url = args[1]
	} else if len(args) == 1 && strings.HasPrefix(args[0], "--url=") {
		url = strings.TrimPrefix(args[0], "--url=")
	} else if len(args) != 0 {
		fmt.Fprintln(stderr, "usage: steadyrest healthcheck [--url URL]")
		return 2
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s answered %s\n", url, resp.Status)
		return 1
	}
	return 0
}
