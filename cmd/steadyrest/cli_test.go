package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// envTestValues are values the flags' checks accept, by flag or by type.
var envTestValues = map[string]string{
	"log-format": "json", "log-level": "debug", "min-tls-version": "tls1.3", "baseurl": "/x",
	"overlay": "redis://127.0.0.1:1/0", "umask": "027", "trusted-proxies": "10.0.0.0/8", "listen": "127.0.0.1:7",
	"bool": "true", "duration": "7s", "int": "7", "size": "7Mi", "string": "/tmp/x",
}

// serveFlagSet is serve's flag set with the environment applied.
func serveFlagSet(t *testing.T) *pflag.FlagSet {
	t.Helper()
	fl := pflag.NewFlagSet("steadyrest", pflag.ContinueOnError)
	if err := defineAllServeFlags(fl, &config{}); err != nil {
		t.Fatal(err)
	}
	return fl
}

// Every flag of ours has a variable, and the variable sets what the flag
// sets; a peer's name sets its flag, so shares its variable.
func TestEveryFlagHasItsVariable(t *testing.T) {
	var names []string
	serveFlagSet(t).VisitAll(func(f *pflag.Flag) {
		if g := flagGroup(f); g == groupOwn || g == groupPeer && f.Annotations[annEnv] != nil {
			names = append(names, f.Name)
		}
	})
	if len(names) < 40 {
		t.Fatalf("only %d flags found: %v", len(names), names)
	}
	for _, name := range names {
		fl := serveFlagSet(t)
		f := fl.Lookup(name)
		env := f.Annotations[annEnv]
		if len(env) == 0 || env[len(env)-1] != envName(name) {
			t.Errorf("--%s: variables %v, want %s last", name, env, envName(name))
			continue
		}
		val, ok := envTestValues[name]
		if !ok {
			val = envTestValues[f.Value.Type()]
		}
		if val == "" {
			t.Errorf("--%s: no test value for type %s", name, f.Value.Type())
			continue
		}
		// What the command line gives ...
		if err := fl.Parse([]string{"--" + name + "=" + val}); err != nil {
			t.Errorf("--%s=%s: %v", name, val, err)
			continue
		}
		want := f.Value.String()
		if want == f.DefValue {
			t.Errorf("--%s: test value %q is the default", name, val)
		}
		// ... each of its variables gives.
		for _, v := range env {
			t.Setenv(v, val)
			got := serveFlagSet(t).Lookup(name).Value.String()
			os.Unsetenv(v)
			if got != want {
				t.Errorf("%s=%s: --%s is %q, want %q", v, val, name, got, want)
			}
		}
	}
	// The two the issue found ignored reach the config.
	t.Setenv("STEADYREST_PROMETHEUS_NO_AUTH", "true")
	t.Setenv("STEADYREST_DEBUG", "true")
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || !cfg.prometheusNoAuth || cfg.logLevel != "debug" {
		t.Errorf("STEADYREST_PROMETHEUS_NO_AUTH, STEADYREST_DEBUG: %v, prometheusNoAuth %v, log level %q", err, cfg != nil && cfg.prometheusNoAuth, cfg.logLevel)
	}
}

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

// `version` and --version print the version and the source revision the
// toolchain recorded (go test records none, so the build info is given).
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := realMain([]string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "steadyrest ") || !strings.Contains(out.String(), "rclone: v1.") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := realMain([]string{"--version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "steadyrest ") {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
	bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := formatVersion(bi)
	for _, want := range []string{"steadyrest devel-0123456789ab-dirty\n", "revision: 0123456789abcdef0123 (modified)\n", "revision time: 2026-12-01T10:00:00Z\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("version of a modified checkout lacks %q:\n%s", want, got)
		}
	}
	bi.Main.Version, bi.Settings = "v1.2.3", nil
	if got := formatVersion(bi); !strings.HasPrefix(got, "steadyrest v1.2.3\n") {
		t.Errorf("version of a tagged module: %q", got)
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

// docs/configuration.md's flag tables list every flag of serve and the
// peers' names, and nothing else.
func TestConfigurationDocListsEveryFlag(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\|\\s*`?(--[a-z][a-z0-9-]*)")
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}
	var missing, extra []string
	defined := map[string]bool{}
	serveFlagSet(t).VisitAll(func(f *pflag.Flag) {
		if g := flagGroup(f); g == groupOwn || g == groupPeer {
			defined["--"+f.Name] = true
			if !documented["--"+f.Name] {
				missing = append(missing, "--"+f.Name)
			}
		}
	})
	for name := range documented {
		if !defined[name] && name != "--help" && name != "--version" {
			extra = append(extra, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Errorf("docs/configuration.md: missing %v; documented but not defined %v (go run ./cmd/steadyrest gendocs)", missing, extra)
	}
}
