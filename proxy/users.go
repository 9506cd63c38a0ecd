package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
)

// staticUser is one user given on the command line (rclone's --user and
// --pass), without an htpasswd file.
type staticUser struct {
	user string
	pass [sha256.Size]byte // compared in constant time, whatever the length
}

// StaticUser authenticates one user with one password.
func StaticUser(user, pass string) Authenticator {
	return &staticUser{user: user, pass: sha256.Sum256([]byte(pass))}
}

func (u *staticUser) Authenticate(user, pass string) bool {
	p := sha256.Sum256([]byte(pass))
	return subtle.ConstantTimeCompare([]byte(user), []byte(u.user))&subtle.ConstantTimeCompare(p[:], u.pass[:]) == 1
}

// anyAuth lets in who any of its authenticators lets in.
type anyAuth []Authenticator

// AnyAuth lets in who any of auths lets in; nil entries are skipped, and
// with none left it returns nil (no authentication).
func AnyAuth(auths ...Authenticator) Authenticator {
	var out anyAuth
	for _, a := range auths {
		if a != nil {
			out = append(out, a)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

func (as anyAuth) Authenticate(user, pass string) bool {
	for _, a := range as {
		if a.Authenticate(user, pass) {
			return true
		}
	}
	return false
}

func (as anyAuth) remembers(user, pass string) bool {
	for _, a := range as {
		if r, ok := a.(rememberer); ok && r.remembers(user, pass) {
			return true
		}
	}
	return false
}
