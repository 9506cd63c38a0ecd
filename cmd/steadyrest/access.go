package main

import (
	"log/slog"
	"net/http"

	"github.com/steadyrest/steadyrest/proxy"
)

// withFlagUser adds the --user/--pass user to auth (nil: no other users).
func withFlagUser(auth proxy.Authenticator, cfg *config) proxy.Authenticator {
	if cfg.user == "" {
		return auth
	}
	return proxy.AnyAuth(proxy.StaticUser(cfg.user, cfg.pass), auth)
}

// guardMetrics returns the /metrics handler for the API's listeners and
// for --metrics-listen. --metrics-no-auth opens the metrics listener only,
// so that a compose file which publishes the API port never publishes
// unauthenticated metrics; opening the API's /metrics takes rest-server's
// own --prometheus-no-auth.
func guardMetrics(cfg *config, auth proxy.Authenticator, h http.Handler, log *slog.Logger) (api, listener http.Handler) {
	guarded := proxy.Guard(auth, proxy.Operator(cfg.privateRepos), h)
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
