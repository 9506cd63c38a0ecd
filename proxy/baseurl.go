package proxy

import (
	"net/http"
	"strings"
)

// BaseURL serves h under prefix ("/a/b", as rclone's --baseurl), for a
// reverse proxy that forwards a sub-path: h sees paths without it, and
// paths outside it answer 404. The prefix is compared with the raw path,
// so that the protocol layer still sees (and refuses) an encoded
// traversal in what follows. An empty prefix is no prefix.
func BaseURL(prefix string, h http.Handler) http.Handler {
	if prefix == "" {
		return h
	}
	strip := http.StripPrefix(prefix, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if p != prefix && !strings.HasPrefix(p, prefix+"/") {
			refuseUnread(w, r)
			http.NotFound(w, r)
			return
		}
		strip.ServeHTTP(w, r)
	})
}
