package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/operations"

	"github.com/steadyrest/steadyrest/proxy"
)

// flagUser is --user/--pass: one user without an htpasswd file, as
// rclone's serve commands take it.
type flagUser struct {
	user string
	pass [sha256.Size]byte // compared in constant time, whatever the length
}

func (u *flagUser) Authenticate(user, pass string) bool {
	p := sha256.Sum256([]byte(pass))
	return subtle.ConstantTimeCompare([]byte(user), []byte(u.user))&subtle.ConstantTimeCompare(p[:], u.pass[:]) == 1
}

// eitherAuth lets in who either authenticator lets in.
type eitherAuth struct{ a, b proxy.Authenticator }

func (e eitherAuth) Authenticate(user, pass string) bool {
	return e.a.Authenticate(user, pass) || e.b.Authenticate(user, pass)
}

// withFlagUser adds the --user/--pass user to auth (nil: no other users).
func withFlagUser(auth proxy.Authenticator, cfg *config) proxy.Authenticator {
	if cfg.user == "" {
		return auth
	}
	u := &flagUser{user: cfg.user, pass: sha256.Sum256([]byte(cfg.pass))}
	if auth == nil {
		return u
	}
	return eitherAuth{u, auth}
}

// guardMetrics returns the /metrics handler for the API's listeners and
// for --metrics-listen. --metrics-no-auth opens the metrics listener only,
// so that a compose file which publishes the API port never publishes
// unauthenticated metrics; opening the API's /metrics takes rest-server's
// own --prometheus-no-auth.
func guardMetrics(cfg *config, auth proxy.Authenticator, h http.Handler, log *slog.Logger) (api, listener http.Handler) {
	guarded := proxy.RequireMetricsAuth(auth, cfg.privateRepos, h)
	api, listener = guarded, guarded
	if cfg.metricsNoAuth {
		listener = h
		if cfg.metricsListen == "" && auth != nil {
			log.Warn("--metrics-no-auth opens only the --metrics-listen address, and none is given: /metrics keeps its auth (--prometheus-no-auth opens it on the API's address)")
		}
	}
	if cfg.prometheusNoAuth {
		api = h
	}
	return api, listener
}

// startQuota counts what the remote holds (one recursive listing, ListR
// where the backend has it) for --max-size. On a remote that lags, that
// count misses uploads of the last moments before the start and still
// holds recent deletes; uploads and deletes through steadyrest keep it
// current from then on.
func startQuota(ctx context.Context, cfg *config, f fs.Fs, log *slog.Logger) (*proxy.Quota, error) {
	if cfg.maxRepoSize == 0 {
		return nil, nil
	}
	objects, size, _, err := operations.Count(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("--max-size: count what the remote holds: %w", err)
	}
	q, err := proxy.NewQuota(cfg.maxRepoSize, size)
	if err != nil {
		return nil, fmt.Errorf("--max-size: %w", err)
	}
	log.Info("repository quota", "max_bytes", cfg.maxRepoSize, "used_bytes", size, "objects", objects)
	return q, nil
}
