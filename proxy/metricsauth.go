package proxy

import "net/http"

// MetricsUser is the one user that may read /metrics when repositories
// are private (rest-server's rule): the metrics name every repository, so
// other users would see each other's.
const MetricsUser = "metrics"

// RequireMetricsAuth guards /metrics with the API's credentials; with
// privateRepos only MetricsUser gets in.
func RequireMetricsAuth(auth Authenticator, privateRepos bool, h http.Handler) http.Handler {
	if auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := authenticate(auth, w, r)
		if ok && privateRepos && user != MetricsUser {
			w.Header().Set("WWW-Authenticate", authChallenge)
			ok = false
		}
		if !ok {
			http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
