package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

func TestFolderGroup(t *testing.T) {
	repo := "/multi-one-1/storm"
	for p, want := range map[string]string{
		"/":                          "above the repository",
		"/multi-one-1":               "above the repository",
		"/multi-one-1/storm":         "repository",
		"/multi-one-1/storm/locks":   "locks",
		"/multi-one-1/storm/data":    "data",
		"/multi-one-1/storm/data/ab": "data/xx",
		"/multi-one-10/storm/locks":  "other",
		"":                           "other",
	} {
		if got := folderGroup(repo, p); got != want {
			t.Errorf("folderGroup(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestDavTarget(t *testing.T) {
	for p, want := range map[string]string{
		"/":                  "above the repository",
		"/repository/x":      "above the repository",
		"/repo/":             "repository",
		"/repo/config":       "config",
		"/repo/locks/":       "locks",
		"/repo/locks/abc":    "locks/file",
		"/repo/data/ab/":     "data/xx",
		"/repo/data/ab/abcd": "data/xx/file",
	} {
		if got := davTarget(p); got != want {
			t.Errorf("davTarget(%q) = %q, want %q", p, got, want)
		}
	}
}

// A scenario with its own columns gets a table of its own, ratios to the
// base column (the last).
func TestMarkdownColumns(t *testing.T) {
	r := &results{}
	r.setColumns("multi", "1", "3")
	r.add(sample{Scenario: "storm", Metric: "m", Unit: "s", Server: steady, Value: 1})
	r.add(sample{Scenario: "storm", Metric: "m", Unit: "s", Server: rclone, Value: 2})
	r.add(sample{Scenario: "multi", Metric: "calls", Unit: "calls", Server: "3", Value: 110})
	r.add(sample{Scenario: "multi", Metric: "calls", Unit: "calls", Server: "1", Value: 100})
	md := r.markdown(config{})
	for _, want := range []string{
		"| steadyrest | rclone serve restic | ratio steadyrest / rclone serve restic |",
		"| storm | m (s) | 1 | 2 | 0.50 | 1; 2 |",
		"| 3 | 1 | ratio 3 / 1 |",
		"| multi | calls (calls) | 110 | 100 | 1.10 | 110; 100 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// The tree's steadyrest is given --shared; a build from before the rename,
// whose help lists only --overlay (a script here), is given --overlay.
func TestRedisFlagsFor(t *testing.T) {
	r := &redisServer{sock: "/run/r.sock"}
	bin, err := e2e.BuildBinary(t.TempDir(), "./cmd/steadyrest")
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old-steadyrest")
	script := "#!/bin/sh\necho '      --overlay string   share the overlay with other instances in Redis'\n"
	if err := os.WriteFile(old, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	for b, want := range map[string]string{bin: "--shared unix:///run/r.sock", old: "--overlay unix:///run/r.sock"} {
		got, err := r.flagsFor(b)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("flagsFor(%s) = %v, %v; want %s", filepath.Base(b), got, err, want)
		}
	}
	if _, err := r.flagsFor(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("flagsFor of a missing binary: no error")
	}
}
