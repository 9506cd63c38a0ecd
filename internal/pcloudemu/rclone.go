package pcloudemu

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// tokenJSON is an rclone oauth token for the emulator. A zero expiry means
// "never expires" to golang.org/x/oauth2, so rclone never tries to refresh
// it (there is no oauth2_token endpoint here).
func (s *Server) tokenJSON() string {
	b, _ := json.Marshal(map[string]string{
		"access_token": s.token,
		"token_type":   "bearer",
		"expiry":       "0001-01-01T00:00:00Z",
	})
	return string(b)
}

// quote wraps a connection-string value in single quotes (rclone doubles
// a quote inside).
func quote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// RcloneRemote returns an on-the-fly rclone remote for the emulator, ending
// in ":" so a path can be appended: srv.RcloneRemote()+"repo".
//
// The pcloud backend always dials "https://"+hostname, so hostname is the
// emulator's 127.0.0.1:PORT. The CA is passed with override.ca_cert, which
// sets rclone's --ca-cert for this backend only, so neither the process
// environment nor the global rclone config has to change.
func (s *Server) RcloneRemote() string {
	return ":pcloud,hostname=" + quote(s.Hostname()) +
		",token=" + quote(s.tokenJSON()) +
		",override.ca_cert=" + quote(s.caFile) + ":"
}

// RcloneConfSection returns the rclone.conf section for a remote called name.
func (s *Server) RcloneConfSection(name string) string {
	return fmt.Sprintf("[%s]\ntype = pcloud\nhostname = %s\ntoken = %s\noverride.ca_cert = %s\n",
		name, s.Hostname(), s.tokenJSON(), s.caFile)
}

// WriteRcloneConf writes a [name] section for the emulator into the rclone
// config file at path, replacing a section of that name if there is one and
// keeping the others. With it, steadyrest runs unchanged with
// --remote name:path (and rclone's --config path).
func (s *Server) WriteRcloneConf(path, name string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("pcloudemu: read rclone config: %w", err)
	}
	var out bytes.Buffer
	skip := false
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		line := sc.Text()
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			skip = t == "["+name+"]"
		}
		if !skip {
			out.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("pcloudemu: scan rclone config: %w", err)
	}
	if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n\n")) {
		out.WriteString("\n")
	}
	out.WriteString(s.RcloneConfSection(name))
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		return fmt.Errorf("pcloudemu: write rclone config: %w", err)
	}
	return nil
}
