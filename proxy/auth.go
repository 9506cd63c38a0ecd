package proxy

import "net/http"

// authChallenge goes with every 401.
const authChallenge = `Basic realm="steadyrest"`

// authenticate checks r's Basic credentials against auth and returns the
// user; on failure it has set the challenge header and the caller answers
// 401.
func authenticate(auth Authenticator, w http.ResponseWriter, r *http.Request) (string, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok || !auth.Authenticate(user, pass) {
		w.Header().Set("WWW-Authenticate", authChallenge)
		return "", false
	}
	return user, true
}

// requireUser is the API's authentication middleware: it records the user
// on the request and calls next, or answers 401. Without Options.Auth
// everyone is let in, as user "".
func (s *Server) requireUser(next func(*request)) func(*request) {
	if s.opt.Auth == nil {
		return next
	}
	return func(rq *request) {
		user, ok := authenticate(s.opt.Auth, rq.w, rq.r)
		if !ok {
			s.fail(rq, http.StatusUnauthorized, nil)
			return
		}
		rq.user = user
		next(rq)
	}
}

// mayReach is the authorisation rule: with Options.PrivateRepos a user
// reaches only the repositories under /{user}/.
func (s *Server) mayReach(user string, rt route) bool {
	return !s.opt.PrivateRepos || (len(rt.repo) > 0 && rt.repo[0] == user)
}

// RequireAuth guards h with the same credentials as the REST API, for
// endpoints served beside it (/metrics). A nil auth lets everyone in.
func RequireAuth(auth Authenticator, h http.Handler) http.Handler {
	if auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := authenticate(auth, w, r); !ok {
			http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
