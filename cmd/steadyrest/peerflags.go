package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
)

// The peers' (rest-server's and `rclone serve restic`'s) names for our
// flags set the same thing; their options that make no sense here are
// refused with the reason, not with the whole usage.

// peerAlias is a peer's other name for one of our flags.
type peerAlias struct{ name, target, peer string }

var peerAliases = []peerAlias{
	{"path", "remote", "rest-server"},
	{"addr", "listen", "rclone"},
	{"htpasswd", "htpasswd-file", "rclone"},
	{"cert", "tls-cert", "rclone"},
	{"key", "tls-key", "rclone"},
	{"config", "rclone-config", "rclone"},
	{"tls-min-ver", "min-tls-version", "rest-server"},
	{"proxy-auth-username", "user-from-header", "rest-server"},
}

// peerNoop are a peer's options that steadyrest always behaves as.
var peerNoop = []struct{ name, peer, why string }{
	{"prometheus", "rest-server", "accepted: /metrics is always served"},
	{"cache-objects", "rclone", "accepted: the overlay always serves what was just written"},
}

// peerRefused are a peer's options steadyrest does not have, and why.
var peerRefused = []struct {
	name, peer, why string
	isBool          bool
}{
	{"cpu-profile", "rest-server", "not supported: a CPU profile is a debugging aid of rest-server's", false},
	{"stdio", "rclone", "not supported: steadyrest serves HTTP only (restic's rclone: backend starts rclone itself)", true},
	{"realm", "rclone", "not supported: the authentication realm is fixed", false},
	{"salt", "rclone", "not supported: it salts rclone's --auth-proxy cache, which steadyrest does not have", false},
	{"server-read-timeout", "rclone", "not supported: steadyrest limits idle time instead of total time, see --header-timeout and --body-timeout", false},
	{"server-write-timeout", "rclone", "not supported: steadyrest limits idle time instead of total time, see --body-timeout", false},
	{"allow-origin", "rclone", "not supported: restic needs no CORS, and the API is not for browsers", false},
	{"response-header", "rclone", "not supported: set response headers in the reverse proxy", false},
}

func definePeerFlags(d flagDefiner, c *config) {
	for _, a := range peerAliases {
		t := d.fl.Lookup(a.target)
		f := *t // shares t's Value
		f.Name, f.Shorthand, f.Hidden = a.name, "", true
		f.Usage = "same as --" + a.target
		f.Annotations = map[string][]string{annGroup: {groupPeer}, annPeer: {a.peer}}
		d.fl.AddFlag(&f)
	}
	noop := make([]bool, len(peerNoop))
	for i, n := range peerNoop {
		d.fl.BoolVar(&noop[i], n.name, false, n.why)
		f := d.fl.Lookup(n.name)
		f.Hidden = true
		f.Annotations = map[string][]string{annGroup: {groupPeer}, annPeer: {n.peer}, annEnv: {envName(n.name)}}
	}
	for _, r := range peerRefused {
		f := d.fl.VarPF(refusedValue{r.why, r.isBool}, r.name, "", r.why)
		if r.isBool {
			f.NoOptDefVal = "true"
		}
		f.Hidden = true
		f.Annotations = map[string][]string{annGroup: {groupPeer}, annPeer: {r.peer}}
	}
}

// refusedValue is a peer's flag steadyrest refuses: setting it fails with
// the reason.
type refusedValue struct {
	why    string
	isBool bool
}

func (refusedValue) String() string { return "" }
func (v refusedValue) Type() string {
	if v.isBool {
		return "bool"
	}
	return "string"
}
func (v refusedValue) Set(string) error { return errors.New(v.why) }

// aliasOf is the flag a peer's name stands for, or "".
func aliasOf(name string) string {
	for _, a := range peerAliases {
		if a.name == name {
			return a.target
		}
	}
	return ""
}

// peerNote is the help's note on a peer flag: what it is, and who has it.
func peerNote(f *pflag.Flag) string {
	peer := ""
	if p := f.Annotations[annPeer]; len(p) > 0 {
		peer = p[0]
	}
	if t := aliasOf(f.Name); t != "" {
		return fmt.Sprintf("%s's name for --%s", peer, t)
	}
	return fmt.Sprintf("%s: %s", peer, f.Usage)
}
