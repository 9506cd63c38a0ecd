package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

// The old names of --shared and --shared-file, as flags and as variables,
// still share the records in Redis, and the log says to use the new name;
// an old and a new name that disagree are refused before anything starts;
// the help shows only the new names.
func TestRenamedFlagsStillWork(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "url")
	if err := os.WriteFile(urlFile, []byte(srv.URL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--remote", filepath.Join(dir, "store"), "--listen", "127.0.0.1:0", "--heartbeat-interval", "0", "--no-request-log"}
	for _, tc := range []struct {
		name      string
		env, args []string
		old, use  string // the warning's names; "" for none
	}{
		{"old flag", nil, []string{"--overlay", srv.URL()}, "--overlay", "--shared"},
		{"old variable", []string{"STEADYREST_OVERLAY=" + srv.URL()}, nil, "$STEADYREST_OVERLAY", "$STEADYREST_SHARED"},
		{"old file flag", nil, []string{"--overlay-file", urlFile}, "--overlay-file", "--shared-file"},
		{"old file variable", []string{"STEADYREST_OVERLAY_FILE=" + urlFile}, nil, "$STEADYREST_OVERLAY_FILE", "$STEADYREST_SHARED_FILE"},
		{"old and new agree", []string{"STEADYREST_OVERLAY=" + srv.URL()}, []string{"--shared", srv.URL()}, "$STEADYREST_OVERLAY", "$STEADYREST_SHARED"},
		{"new flag", nil, []string{"--shared", srv.URL()}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--state-dir", t.TempDir()}, append(base, tc.args...)...)
			c := spawn(t, tc.env, nil, args...)
			c.waitServing(t)
			c.stop()
			logs := c.logs.String()
			if !strings.Contains(logs, `overlay="shared in Redis (`+srv.URL()+`)"`) {
				t.Errorf("the records are not shared in Redis:\n%s", logs)
			}
			warning := lineWith(logs, "deprecated name")
			switch {
			case tc.old == "" && warning != "":
				t.Errorf("a warning with the new name only: %s", warning)
			case tc.old != "" && !(strings.Contains(warning, "level=WARN") && strings.Contains(warning, "deprecated="+tc.old) && strings.Contains(warning, "use="+tc.use)):
				t.Errorf("no warning naming %s and %s:\n%s", tc.old, tc.use, logs)
			}
		})
	}

	for _, tc := range []struct {
		name      string
		env, args []string
		want      string
	}{
		{"old and new flags differ", nil, []string{"--overlay", srv.URL(), "--shared", "redis://127.0.0.1:1/0"},
			"--overlay and --shared give different values: --overlay is the deprecated name of --shared"},
		{"old variable and new flag differ", []string{"STEADYREST_OVERLAY=redis://127.0.0.1:1/0"}, []string{"--shared", srv.URL()},
			"$STEADYREST_OVERLAY and --shared give different values: $STEADYREST_OVERLAY is the deprecated name of $STEADYREST_SHARED"},
		{"old and new file flags differ", nil, []string{"--overlay-file", urlFile, "--shared-file", filepath.Join(dir, "other")},
			"--overlay-file and --shared-file give different values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := spawn(t, tc.env, nil, append([]string{"--state-dir", t.TempDir()}, append(base, tc.args...)...)...)
			if code := c.wait(t); code != exitUsage {
				t.Errorf("exit %d, want %d (bad configuration)", code, exitUsage)
			}
			if logs := c.logs.String(); !strings.Contains(logs, tc.want) || strings.Contains(logs, "serving") {
				t.Errorf("want the error %q and nothing served:\n%s", tc.want, logs)
			}
		})
	}

	var help bytes.Buffer
	if code := realMain([]string{"--help"}, &help, io.Discard); code != 0 || !strings.Contains(help.String(), "--shared ") || strings.Contains(help.String(), "overlay-file") || strings.Contains(help.String(), "--overlay ") {
		t.Errorf("--help: exit %d; want --shared and no old name:\n%s", code, help.String())
	}
}

// lineWith is the first line of logs holding s, or "".
func lineWith(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
