package main

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad value that holds a secret never shows the secret on stderr: a
// Redis URL that does not parse or does not connect, a connection-string
// remote that fails, a bad variable.
func TestSecretsStayOutOfErrors(t *testing.T) {
	const secret = "S3cretPW42"
	dir := t.TempDir()
	base := []string{"--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0", "--rclone-config", filepath.Join(dir, "none.conf"),
		"--heartbeat-interval", "0"}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		serves bool // starts anyway (Redis and S3 may come later)
	}{
		{"shared URL does not parse", nil, []string{"--remote", dir, "--shared", "redis://user:" + secret + "@[bad"}, false},
		{"shared URL not Redis", nil, []string{"--remote", dir, "--shared", "http://user:" + secret + "@127.0.0.1:1/"}, false},
		{"shared URL does not connect", nil, []string{"--remote", dir, "--shared", "redis://user:" + secret + "@127.0.0.1:1/0"}, true},
		{"shared URL variable", []string{"STEADYREST_SHARED=redis://:" + secret + "@[bad"}, []string{"--remote", dir}, false},
		{"webdav connection string", nil, []string{"--remote", ":webdav,url=http://127.0.0.1:1/,pass=" + secret + ":"}, false},
		{"quoted connection string", nil, []string{"--remote", `:webdav,url='http://127.0.0.1:1/',user=u,pass='` + secret + `':`}, false},
		{"s3 keys", nil, []string{"--remote", ":s3,provider=Other,endpoint=http://127.0.0.1:1,access_key_id=AKIA1,secret_access_key=" + secret + ":bucket"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := spawn(t, tc.env, nil, append(append([]string{}, base...), tc.args...)...)
			if tc.serves {
				c.waitServing(t)
				c.stop()
			} else if code := c.wait(t); code == 0 {
				t.Errorf("exit 0, want a failure:\n%s", c.logs.String())
			}
			if logs := c.logs.String(); strings.Contains(logs, secret) {
				t.Errorf("stderr shows the secret:\n%s", logs)
			}
		})
	}
}

// --pass-file and --shared-file read secrets from files; both forms of a
// secret at once are refused.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("filepw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(dir, "shared")
	if err := os.WriteFile(ov, []byte("redis://:x@127.0.0.1:1/0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseFlags([]string{"--user", "u", "--pass-file", pw, "--shared-file", ov}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.pass != "filepw" || cfg.shared != "redis://:x@127.0.0.1:1/0" {
		t.Fatalf("pass %q, shared %q", cfg.pass, cfg.shared)
	}
	if _, err := parseFlags([]string{"--user", "u", "--pass", "p", "--pass-file", pw}, io.Discard); err == nil {
		t.Error("--pass and --pass-file together accepted")
	}
	var stderr bytes.Buffer
	if code := realMain([]string{"--help"}, &stderr, io.Discard); code != 0 || !strings.Contains(stderr.String(), "--pass-file") || !strings.Contains(stderr.String(), "--shared-file") {
		t.Errorf("--help does not offer the secret files")
	}
}

// What steadyrest creates on a local remote and in its state folder is
// its owner's alone, as with rest-server (0600 files, 0700 folders);
// --group-accessible-repos opens it to the group as rest-server's does.
func TestLocalRemoteModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		notAllow fs.FileMode
	}{
		{"default", nil, 0o077},
		{"group accessible", []string{"--group-accessible-repos"}, 0o007},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			store := filepath.Join(dir, "store")
			c := spawn(t, nil, nil, append([]string{"--remote", store, "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0",
				"--lock-upload-delay", "0", "--heartbeat-interval", "1h", "--no-request-log"}, tc.args...)...)
			addr := c.waitServing(t)
			blob := []byte("some data")
			for _, r := range []struct {
				method, path string
				body         []byte
			}{{"POST", "/r/?create=true", nil}, {"POST", "/r/data/" + blobName(blob), blob}, {"POST", "/r/locks/" + blobName([]byte("l")), []byte("l")}} {
				if got := do(t, nil, r.method, "http://"+addr+r.path, r.body, "", ""); got != http.StatusOK {
					t.Fatalf("%s %s: %d", r.method, r.path, got)
				}
			}
			c.stop()
			files := 0
			for _, root := range []string{store, filepath.Join(dir, "state")} {
				err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					fi, err := d.Info()
					if err != nil {
						return err
					}
					if fi.Mode().Perm()&tc.notAllow != 0 {
						t.Errorf("%s: mode %v", p, fi.Mode().Perm())
					}
					if !d.IsDir() {
						files++
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if files < 3 {
				t.Errorf("only %d files created", files)
			}
		})
	}
}
