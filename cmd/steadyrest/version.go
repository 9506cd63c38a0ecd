package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionString is the version and rclone's, for logs, metrics and /status.
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return fmt.Sprintf("%s (rclone %s)", moduleVersion(bi), rcloneVersion(bi))
}

// versionText is what `steadyrest version` and --version print: the
// version, and the source it was built from as the Go toolchain recorded it.
func versionText() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(bi)
}

func formatVersion(bi *debug.BuildInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "steadyrest %s\n", moduleVersion(bi))
	rev, when, modified := buildSetting(bi, "vcs.revision"), buildSetting(bi, "vcs.time"), buildSetting(bi, "vcs.modified")
	if rev != "" {
		if modified == "true" {
			rev += " (modified)"
		}
		fmt.Fprintf(&b, "revision: %s\n", rev)
	}
	if when != "" {
		fmt.Fprintf(&b, "revision time: %s\n", when)
	}
	fmt.Fprintf(&b, "rclone: %s\ngo: %s %s/%s\n", rcloneVersion(bi), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// moduleVersion is -X main.version, else the module's version (a tag or
// a pseudo-version with `go install …@v`), else the revision's.
func moduleVersion(bi *debug.BuildInfo) string {
	if version != "" {
		return version
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if rev := buildSetting(bi, "vcs.revision"); rev != "" {
		v := "devel-" + rev[:min(12, len(rev))]
		if buildSetting(bi, "vcs.modified") == "true" {
			v += "-dirty"
		}
		return v
	}
	return "(devel)"
}

// buildRevision is the VCS revision the binary was built from, if known.
func buildRevision() string {
	bi, _ := debug.ReadBuildInfo()
	return buildSetting(bi, "vcs.revision")
}

func buildSetting(bi *debug.BuildInfo, key string) string {
	if bi != nil {
		for _, s := range bi.Settings {
			if s.Key == key {
				return s.Value
			}
		}
	}
	return ""
}

func rcloneVersion(bi *debug.BuildInfo) string {
	if bi != nil {
		for _, d := range bi.Deps {
			if d.Path == "github.com/rclone/rclone" {
				return d.Version
			}
		}
	}
	return "unknown"
}
