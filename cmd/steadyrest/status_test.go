package main

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// /status is wired in with the API's authentication and sees the API's
// requests.
func TestStatusPageBehindAuth(t *testing.T) {
	dir := t.TempDir()
	sum := sha1.Sum([]byte("secret"))
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("ann:{SHA}"+base64.StdEncoding.EncodeToString(sum[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--htpasswd-file", htpasswd, "--no-request-log")
	do := func(method, path string, auth bool) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth("ann", "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do("GET", "/status", false); code != http.StatusUnauthorized {
		t.Errorf("/status without credentials: %d", code)
	}
	if code, _ := do("POST", "/hosts/a/?create=true", true); code != http.StatusOK {
		t.Fatalf("create repository: %d", code)
	}
	code, body := do("GET", "/status", true)
	if code != http.StatusOK || !strings.Contains(body, "<td>/hosts/a</td>") || !strings.Contains(body, "local journal") {
		t.Errorf("/status: %d\n%s", code, body)
	}
	code, body = do("GET", "/status?format=json", true)
	var snap struct {
		Remote string `json:"remote"`
		Repos  []struct {
			Repo     string `json:"repo"`
			Requests int    `json:"requests_last_hour"`
		} `json:"repos"`
	}
	if err := json.Unmarshal([]byte(body), &snap); err != nil || code != http.StatusOK {
		t.Fatalf("/status?format=json: %d %v\n%s", code, err, body)
	}
	if len(snap.Repos) != 1 || snap.Repos[0].Repo != "hosts/a" || snap.Repos[0].Requests != 1 || !strings.Contains(snap.Remote, "store") {
		t.Errorf("JSON %s", body)
	}
}
