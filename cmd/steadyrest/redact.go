package main

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/rclone/rclone/fs/fspath"
)

// Secrets must not reach errors or logs: a Redis URL's password, and the
// values of a connection string's secret keys (:webdav,url=…,pass=…:).

var (
	// urlPassword is the password part of scheme://user:password@.
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s"]*:)[^@\s"]*@`)
	// secretKeyValue is key=value where the key looks secret, as in
	// rclone's connection strings (values may be quoted).
	secretKeyValue = regexp.MustCompile(`(?i)\b([a-z0-9_]*(?:pass|password|token|secret|key|credentials)[a-z0-9_]*\s*=\s*)("[^"]*"|'[^']*'|[^,:\s"]*)`)
)

// redactText hides what looks like a secret in s.
func redactText(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}xxxxx@")
	return secretKeyValue.ReplaceAllString(s, "${1}xxxxx")
}

// knownSecrets are the secret values the config holds, which may show up
// in an error of a library in any form.
func knownSecrets(c *config) []string {
	var out []string
	add := func(s string) {
		if len(s) >= 4 { // a shorter one would blank out ordinary words
			out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	add(c.pass)
	if u, err := url.Parse(c.shared); err == nil && u.User != nil {
		p, _ := u.User.Password()
		add(p)
	} else if m := urlPassword.FindStringSubmatch(c.shared); m != nil {
		add(strings.TrimSuffix(strings.TrimPrefix(m[0], m[1]), "@"))
	}
	// rclone parses a connection string its own way (a url=http://… value
	// cuts it short), and its errors may show the rest escaped: take every
	// secret-looking key=value, parsed or not.
	for _, m := range secretKeyValue.FindAllStringSubmatch(c.remote, -1) {
		add(strings.Trim(m[2], `"'`))
	}
	if p, err := fspath.Parse(c.remote); err == nil {
		for k, v := range p.Config {
			if secretKeyValue.MatchString(k + "=x") {
				add(v)
			}
		}
	}
	return out
}

// redactor hides the known secrets and what looks like one.
type redactor struct{ r *strings.Replacer }

func newRedactor(secrets []string) redactor {
	var pairs []string
	for _, s := range secrets {
		pairs = append(pairs, s, "xxxxx")
	}
	return redactor{strings.NewReplacer(pairs...)}
}

func (r redactor) text(s string) string { return redactText(r.r.Replace(s)) }

// redactHandler passes records on with their secrets hidden: steadyrest's
// and rclone's lines alike.
type redactHandler struct {
	next slog.Handler
	r    redactor
}

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool { out.AddAttrs(h.attr(a)); return true })
	return h.next.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for i := range as {
		as[i] = h.attr(as[i])
	}
	return redactHandler{h.next.WithAttrs(as), h.r}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h.next.WithGroup(name), h.r}
}

func (h redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.text(v.String()))
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.r.text(err.Error()))
		}
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i := range as {
			out[i] = h.attr(as[i])
		}
		return slog.Group(a.Key, out...)
	}
	return a
}
