package proxy

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"unicode"
)

// maxHeaderUser bounds a user name taken from Options.UserHeader.
const maxHeaderUser = 255

var (
	loopback4 = netip.MustParseAddr("127.0.0.1")
	loopback6 = netip.IPv6Loopback()

	errHeaderUser = errors.New("invalid user header")
)

// headerUser is the user that a trusted proxy in front names in
// Options.UserHeader (Authelia, oauth2-proxy). ok is false, and Basic
// authentication applies, when the option is off, the peer is not
// trusted, or the header is absent or empty. A trusted peer's header that
// is not one clean user name is an error: the proxy is misconfigured, or
// passes on a header the client sent.
func (s *Server) headerUser(r *http.Request) (user string, ok bool, err error) {
	if s.opt.UserHeader == "" || !trustedPeer(r, s.opt.TrustedProxies) {
		return "", false, nil
	}
	vals := r.Header.Values(s.opt.UserHeader)
	if len(vals) == 0 || len(vals) == 1 && vals[0] == "" {
		return "", false, nil // no user named: Basic authentication
	}
	user = vals[0]
	if len(vals) > 1 || user == "" || len(user) > maxHeaderUser ||
		strings.ContainsFunc(user, func(c rune) bool { return c == ':' || c == '/' || unicode.IsControl(c) || c == unicode.ReplacementChar }) {
		return "", false, errHeaderUser
	}
	return user, true, nil
}

// trustedPeer reports whether the connection's peer is one whose user
// header is believed: one of trusted, or a loopback address when trusted
// is empty. A unix-socket peer counts as loopback.
func trustedPeer(r *http.Request, trusted []netip.Prefix) bool {
	var peers []netip.Addr
	if isUnixPeer(r) {
		peers = []netip.Addr{loopback4, loopback6}
	} else if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		peers = []netip.Addr{ap.Addr().Unmap().WithZone("")}
	}
	for _, a := range peers {
		if len(trusted) == 0 && a.IsLoopback() {
			return true
		}
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}
