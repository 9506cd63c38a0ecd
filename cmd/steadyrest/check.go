package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// finish completes the config after parsing: secrets from their files,
// the flags that imply others, then check.
func (c *config) finish() error {
	if len(c.listens) == 0 {
		return errors.New("--listen: no address")
	}
	c.listen = c.listens[0]
	if c.debug || c.rclone != nil && c.rclone.verbose >= 2 {
		c.logLevel = "debug"
	}
	if err := c.resolveRenamed(); err != nil { // renamed.go
		return err
	}
	var err error
	if c.pass, err = secretFromFile("--pass", c.pass, "--pass-file", c.passFile); err != nil {
		return err
	}
	if c.shared, err = secretFromFile("--shared", c.shared, "--shared-file", c.sharedFile); err != nil {
		return err
	}
	if c.tls && c.tlsCert == "" && c.tlsKey == "" {
		if !isLocalPath(c.remote) {
			return errors.New("--tls needs --tls-cert and --tls-key (they default to public_key and private_key in a local --remote only)")
		}
		c.tlsCert, c.tlsKey = filepath.Join(c.remote, "public_key"), filepath.Join(c.remote, "private_key")
	}
	if c.groupAccessible {
		c.umask = "007"
	}
	if c.stateDir == "" {
		if c.stateDir, err = userDir("XDG_STATE_HOME", "state", ""); err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
	}
	if _, err := parseUmask(c.umask); err != nil {
		return err
	}
	return c.check()
}

// secretFromFile returns value, or the first line of file when given.
func secretFromFile(flag, value, fileFlag, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("%s and %s: give one", flag, fileFlag)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", fileFlag, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s %s: the file is empty", fileFlag, file)
	}
	return line, nil
}

// isLocalPath reports whether remote names a local folder, not an rclone
// remote (rest-server's --path is one).
func isLocalPath(remote string) bool {
	return remote != "" && (filepath.IsAbs(remote) || !strings.Contains(remote, ":"))
}

// parseUmask reads --umask: octal, "" for the inherited mask.
func parseUmask(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return 0, fmt.Errorf("--umask %q: want an octal mask such as 077 or 022", s)
	}
	return int(n), nil
}

// check refuses values that would fail later, or make no sense together,
// with a message that names the flag.
func (c *config) check() error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.clientCA != "" && c.tlsCert == "" {
		return errors.New("--client-ca needs TLS: give --tls-cert and --tls-key too")
	}
	if _, err := parseTLSVersion(c.minTLSVersion); err != nil {
		return err
	}
	if c.heartbeatInterval < 0 {
		return fmt.Errorf("--heartbeat-interval must not be negative (0 turns heartbeats off), not %s", c.heartbeatInterval)
	}
	if c.scrubInterval < 0 {
		return fmt.Errorf("--scrub-interval must not be negative (0 turns the background scrub off), not %s", c.scrubInterval)
	}
	if c.lockUploadDelay < 0 {
		return fmt.Errorf("--lock-upload-delay must not be negative (0 uploads every lock at once), not %s", c.lockUploadDelay)
	}
	if (c.user == "") != (c.pass == "") {
		return errors.New("--user and --pass go together")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	if strings.EqualFold(c.logLevel, "notice") { // rclone's level between info and warn
		c.logLevel = "info"
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level must be debug, info, warn or error, not %q", c.logLevel)
	}
	base, err := cleanBaseURL(c.baseURL)
	if err != nil {
		return err
	}
	c.baseURL = base
	return checkSharedURL(c.shared)
}

// checkSharedURL refuses a --shared that is not a Redis URL; the Redis
// client checks the rest when the store opens.
func checkSharedURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("--shared %q is not a URL", redactURL(s))
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
		return nil
	}
	return fmt.Errorf("--shared %q must be a redis://, rediss:// or unix:// URL", redactURL(s))
}

// redactURL hides the password of a URL, for logs and the status page.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return redactText(s)
	}
	return u.Redacted()
}

// cleanBaseURL checks a --baseurl: a leading slash, plain path segments
// (no escaping needed, so that the prefix matches the raw request path),
// and drops a trailing slash. "/" is no prefix.
func cleanBaseURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if !strings.HasPrefix(s, "/") {
		return "", fmt.Errorf("--baseurl %q must start with a slash, e.g. /%s", s, s)
	}
	s = strings.TrimRight(s, "/")
	for _, seg := range strings.Split(strings.TrimPrefix(s, "/"), "/") {
		if seg == "" && s != "" || seg == "." || seg == ".." || strings.ContainsFunc(seg, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
		}) {
			return "", fmt.Errorf("--baseurl %q: segments may hold letters, digits and - . _ ~ only", s)
		}
	}
	return s, nil
}

// userDir returns $XDG_<kind>_HOME/steadyrest/sub, falling back to
// ~/.local/<fallback>/steadyrest/sub as the XDG base directory spec says.
func userDir(xdgVar, fallback, sub string) (string, error) {
	base := os.Getenv(xdgVar)
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find home folder: %w", err)
		}
		base = filepath.Join(home, ".local", fallback)
	}
	return filepath.Join(base, "steadyrest", sub), nil
}
