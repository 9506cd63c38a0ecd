package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// --help is GNU-style: --flags, grouped, the peers' names apart, sizes as
// sizes, each default once; help, completion and the flags anywhere work.
func TestHelpAndCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := realMain([]string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("--help: exit %d: %s", code, errOut.String())
	}
	help := out.String()
	own, peers, _ := strings.Cut(help, "Names from rest-server and rclone serve restic:")
	for _, want := range []string{"      --listen strings", "(default 64Mi)", "--state-dir", "Exit status:", "SIGHUP", "'ps'", "completion", "probe"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, bad := range []string{"\n  -listen", "--addr", "67108864"} {
		if strings.Contains(own, bad) {
			t.Errorf("steadyrest's own flags show %q", bad)
		}
	}
	for _, want := range []string{"--addr", "--path", "--tls-min-ver", "--proxy-auth-username", "--stdio"} {
		if !strings.Contains(peers, want) {
			t.Errorf("the peers' names lack %q", want)
		}
	}
	for _, line := range strings.Split(help, "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("default twice: %q", line)
		}
	}
	for _, args := range [][]string{{"help"}, {"help", "probe"}, {"serve", "--help"}, {"completion", "bash"}, {"help", "rclone-flags"}} {
		out.Reset()
		if code := realMain(args, &out, &errOut); code != 0 || out.Len() == 0 {
			t.Errorf("%q: exit %d, %d bytes", args, code, out.Len())
		}
	}
	out.Reset()
	realMain([]string{"help", "rclone-flags"}, &out, &errOut)
	if !strings.Contains(out.String(), "--tpslimit float") || !strings.Contains(out.String(), "--low-level-retries int") {
		t.Errorf("help rclone-flags lacks rclone's flags:\n%.500s", out.String())
	}
	// Flags after the argument, and rclone's --tpslimit, on probe.
	dir := t.TempDir()
	out.Reset()
	if code := realMain([]string{"probe", dir, "--rounds", "1", "--large-size", "0", "--tpslimit", "100", "--json"}, &out, &errOut); code != 0 || !json.Valid(out.Bytes()) {
		t.Errorf("probe REMOTE --json: exit %d, %q\n%s", code, out.String(), errOut.String())
	}
	// A single dash still works for long flags, as with Go's flag package.
	errOut.Reset()
	if code := realMain([]string{"-remote", dir, "-listen", "127.0.0.1:0", "-log-format", "xml"}, io.Discard, &errOut); code != 2 || !strings.Contains(errOut.String(), "--log-format must be text or json") {
		t.Errorf("-log-format xml: exit %d: %s", code, errOut.String())
	}
}

// Usage and configuration errors exit 2 with one line saying why, not
// the usage; a peer's option steadyrest lacks says so.
func TestConfigurationErrorsExit2WithTheReason(t *testing.T) {
	for args, want := range map[string]string{
		"--realm x":                    "the authentication realm is fixed",
		"--stdio":                      "serves HTTP only",
		"--no-such-flag":               "unknown flag: --no-such-flag",
		"--umask 99":                   "--umask",
		"--tls --remote cloud:x":       "--tls needs --tls-cert",
		"--pass-file /nonexistent/pw":  "--pass-file",
		"serve a b":                    "accepts at most 1 arg",
		"serve /x --remote /y":         "given twice",
		"probe":                        "probe takes one remote",
		"--listen 127.0.0.1:0 stray":   "unknown command",
		"--max-upload-size lots":       "--max-upload-size",
		"--trusted-proxies 10.0.0.0/x": "--trusted-proxies",
	} {
		var stderr bytes.Buffer
		code := realMain(strings.Fields(args), io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "Flags") {
			t.Errorf("%s: exit %d, want 2 and %q alone:\n%s", args, code, want, stderr.String())
		}
	}
}

// With --log-format json every line is JSON, rclone's included, and
// durations read as durations.
func TestJSONLogIsOneStream(t *testing.T) {
	dir := t.TempDir()
	c := spawn(t, nil, nil, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0",
		"--log-format", "json", "--rclone-config", filepath.Join(dir, "none.conf"), "-vv")
	c.waitServing(t)
	c.stop()
	sc := bufio.NewScanner(strings.NewReader(c.logs.String()))
	rcloneLines, durations := 0, 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("not JSON: %q", sc.Text())
			continue
		}
		if _, ok := rec["objectType"]; ok || strings.Contains(rec["msg"].(string), "Creating backend") {
			rcloneLines++
		}
		if d, ok := rec["timeout"]; ok {
			durations++
			if d != "1m0s" {
				t.Errorf("shutdown timeout logged as %v, want 1m0s", d)
			}
		}
	}
	if rcloneLines == 0 || durations == 0 {
		t.Errorf("%d rclone lines, %d durations in:\n%s", rcloneLines, durations, c.logs.String())
	}
}
