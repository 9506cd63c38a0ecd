package main

import (
	"bytes"
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
	"shared": "redis://127.0.0.1:1/0", "umask": "027", "trusted-proxies": "10.0.0.0/8", "listen": "127.0.0.1:7",
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

// docs/configuration.md's flag tables list every flag of serve, the
// peers' names and our old names, and nothing else.
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
		if g := flagGroup(f); g == groupOwn || g == groupPeer || g == groupOld {
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
