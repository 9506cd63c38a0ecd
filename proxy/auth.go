package proxy

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// authChallenge goes with every 401.
const authChallenge = `Basic realm="steadyrest"`

// login checks r's Basic credentials against auth and returns the user,
// or the status to refuse with, its headers set: 401 with the challenge,
// 429 (this client must wait after failed logins) or 503 (too many
// password checks at once) with Retry-After. restic retries 429 and 503
// and gives up at once on 401. Only an auth made by LimitLogins limits
// and logs.
func login(auth Authenticator, w http.ResponseWriter, r *http.Request) (string, int) {
	user, pass, ok := r.BasicAuth()
	status, wait := http.StatusUnauthorized, time.Duration(0)
	if l, guarded := auth.(*limiter); ok && guarded {
		status, wait = l.check(r, user, pass)
	} else if ok && auth.Authenticate(user, pass) {
		status = 0
	}
	switch status {
	case 0:
		return user, 0
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", authChallenge)
	default:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	}
	return "", status
}

// requireUser is the API's authentication middleware: it records the user
// on the request and calls next, or refuses (see login). A trusted proxy
// may name the user in Options.UserHeader instead. Without Options.Auth
// everyone else is let in, as user "".
func (s *Server) requireUser(next func(*request)) func(*request) {
	// Failed logins go to the default logger, not to Options.Logger:
	// they are security events, kept with --no-request-log.
	auth := LimitLogins(s.opt.Auth, nil)
	return func(rq *request) {
		user, ok, err := s.headerUser(rq.r)
		if err != nil {
			s.log.Warn("refusing the user header of a trusted proxy", "header", s.opt.UserHeader, "remote", remoteOf(rq.r), "err", err)
			s.fail(rq, http.StatusBadRequest, err)
			return
		}
		if !ok && auth != nil {
			var status int
			if user, status = login(auth, rq.w, rq.r); status != 0 {
				s.fail(rq, status, nil)
				return
			}
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
