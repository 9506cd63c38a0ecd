package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The peers' typical command lines and environments start steadyrest, and
// it serves with authentication as the peer would: 401 without
// credentials, the repository with them.
func TestPeerCommandLines(t *testing.T) {
	type check struct{ user, pass, path string }
	for _, tc := range []struct {
		name  string
		env   func(dir string) []string
		args  func(dir string) []string
		https bool
		base  string
		as    check
	}{
		{
			// rest-server's systemd unit, with its TLS files in --path.
			name: "rest-server systemd",
			env:  func(dir string) []string { return []string{"XDG_STATE_HOME=" + filepath.Join(dir, "xdg")} },
			args: func(dir string) []string {
				return []string{"--path", filepath.Join(dir, "store"), "--listen", "127.0.0.1:0", "--htpasswd-file", filepath.Join(dir, "htpasswd"),
					"--append-only", "--private-repos", "--prometheus", "--tls", "--tls-min-ver", "1.2", "--log", filepath.Join(dir, "access.log")}
			},
			https: true,
			as:    check{"alice", "alicepw", "/alice/"},
		},
		{
			name: "rclone serve restic",
			env:  func(dir string) []string { return []string{"XDG_STATE_HOME=" + filepath.Join(dir, "xdg")} },
			args: func(dir string) []string {
				return []string{"serve", "-v", filepath.Join(dir, "store"), "--addr", "127.0.0.1:0", "--user", "ruser", "--pass", "rpass",
					"--private-repos", "--baseurl", "/restic/", "--cache-objects=false"}
			},
			base: "/restic",
			as:   check{"ruser", "rpass", "/ruser/"},
		},
		{
			// rclone's variables: with RCLONE_USER/RCLONE_PASS, a request
			// without credentials is refused, not let in.
			name: "rclone environment",
			env: func(dir string) []string {
				return []string{"XDG_STATE_HOME=" + filepath.Join(dir, "xdg"), "RCLONE_ADDR=127.0.0.1:0", "RCLONE_USER=ruser",
					"RCLONE_PASS=rpass", "RCLONE_HTPASSWD=" + filepath.Join(dir, "htpasswd")}
			},
			args: func(dir string) []string { return []string{"serve", filepath.Join(dir, "store")} },
			as:   check{"ruser", "rpass", "/r/"},
		},
		{
			// deploy/docker-compose.yml's steadyrest beside Backrest: the
			// environment alone, JSON logs.
			name: "Backrest sidecar",
			env: func(dir string) []string {
				return []string{"RCLONE_CONFIG_CLOUD_TYPE=local", "STEADYREST_REMOTE=cloud:" + filepath.Join(dir, "store"),
					"STEADYREST_LISTEN=127.0.0.1:0", "STEADYREST_STATE_DIR=" + filepath.Join(dir, "state"),
					"STEADYREST_RCLONE_CONFIG=" + filepath.Join(dir, "none.conf"), "STEADYREST_HTPASSWD_FILE=" + filepath.Join(dir, "htpasswd"),
					"STEADYREST_METRICS_NO_AUTH=true", "STEADYREST_LOG_FORMAT=json"}
			},
			args: func(string) []string { return nil },
			as:   check{"backrest", "brpw", "/backrest/"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			store := filepath.Join(dir, "store")
			if err := os.MkdirAll(store, 0o700); err != nil {
				t.Fatal(err)
			}
			htpasswdFile(t, filepath.Join(dir, "htpasswd"), "alice", "alicepw", "backrest", "brpw")
			client := http.DefaultClient
			scheme := "http"
			if tc.https {
				cert, key, pool := selfSigned(t, dir)
				for from, to := range map[string]string{cert: "public_key", key: "private_key"} {
					if err := os.Rename(from, filepath.Join(store, to)); err != nil {
						t.Fatal(err)
					}
				}
				client, scheme = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, "https"
			}
			c := spawn(t, tc.env(dir), nil, tc.args(dir)...)
			url := scheme + "://" + c.waitServing(t) + tc.base + tc.as.path
			if got := do(t, client, "POST", url+"?create=true", nil, "", ""); got != 401 {
				t.Errorf("without credentials: %d, want 401", got)
			}
			if got := do(t, client, "POST", url+"?create=true", nil, tc.as.user, "wrong"); got != 401 {
				t.Errorf("with a wrong password: %d, want 401", got)
			}
			if got := do(t, client, "POST", url+"?create=true", nil, tc.as.user, tc.as.pass); got != 200 {
				t.Errorf("create as %s: %d, want 200\n%s", tc.as.user, got, c.logs.String())
			}
			if tc.name == "rest-server systemd" {
				// --private-repos: alice is kept out of bob's; --log wrote the access log.
				if got := do(t, client, "POST", strings.Replace(url, "/alice/", "/bob/", 1)+"?create=true", nil, "alice", "alicepw"); got != 401 && got != 403 {
					t.Errorf("alice creating /bob/: %d, want it refused", got)
				}
				c.stop()
				b, err := os.ReadFile(filepath.Join(dir, "access.log"))
				if err != nil || !strings.Contains(string(b), `"POST /alice/?create=true HTTP/1.1" 200`) {
					t.Errorf("--log access log: %v\n%s", err, b)
				}
			}
			if tc.name == "Backrest sidecar" {
				// The compose file's health check reads the same variables.
				var stderr strings.Builder
				env := tc.env(dir)
				for i, e := range env {
					if strings.HasPrefix(e, "STEADYREST_LISTEN=") {
						env[i] = "STEADYREST_LISTEN=" + strings.TrimPrefix(strings.TrimSuffix(url, tc.as.path), "http://")
					}
				}
				for _, e := range env {
					k, v, _ := strings.Cut(e, "=")
					t.Setenv(k, v)
				}
				if code := realMain([]string{"healthcheck"}, io.Discard, &stderr); code != 0 {
					t.Errorf("healthcheck with the sidecar's environment: exit %d: %s", code, stderr.String())
				}
			}
		})
	}
}
