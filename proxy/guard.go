package proxy

import (
	"fmt"
	"net/http"
	"strings"
)

// MetricsUser is the one user that may read /metrics and /status when
// repositories are private (rest-server's rule for /metrics): both name
// every repository, so other users would see each other's.
const MetricsUser = "metrics"

// A UserRule says whether an authenticated user may use an endpoint.
type UserRule func(user string) bool

// AnyUser admits every user the credentials authenticate.
func AnyUser(string) bool { return true }

// Operator is the rule of the endpoints that show the whole instance
// (/metrics, /status): any user when repositories are shared, only
// MetricsUser with privateRepos.
func Operator(privateRepos bool) UserRule {
	if !privateRepos {
		return AnyUser
	}
	return func(user string) bool { return user == MetricsUser }
}

// Guard serves h, beside the API, to the users the API's credentials
// authenticate and rule admits; everyone else gets 401 with the challenge,
// so that a browser asks again (for MetricsUser, say). A nil auth lets
// everyone in: there are no users to tell apart.
func Guard(auth Authenticator, rule UserRule, h http.Handler) http.Handler {
	if auth == nil {
		return h
	}
	auth = LimitLogins(auth, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, status := login(auth, w, r)
		if status == 0 && !rule(user) {
			w.Header().Set("WWW-Authenticate", authChallenge)
			status = http.StatusUnauthorized
		}
		if status != 0 {
			http.Error(w, fmt.Sprintf("%d %s", status, strings.ToLower(http.StatusText(status))), status)
			return
		}
		h.ServeHTTP(w, r)
	})
}
