package pcloud

import (
	"os"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// Binaries built once by TestMain. E2E_RACE=1 builds the servers with the
// race detector (slower; the tests' own code, the emulator included, runs
// under -race anyway).
var (
	steadyrestBin string
	rcloneLagBin  string
)

func TestMain(m *testing.M) {
	os.Exit(e2e.RunWithBinaries(m, "pcloud",
		e2e.Binary{Pkg: "./cmd/steadyrest", Dst: &steadyrestBin, Race: true},
		e2e.Binary{Pkg: "./cmd/rclone-lag", Dst: &rcloneLagBin, Race: true}))
}

// pcloudKnobs is the pCloud-like behaviour of the tests: new files missing
// from listings (and from rclone's lookups by name) and deleted ones still
// listed for 2s, deletes and download links of files younger than that
// refused with 2009 "File not found.", 2% of API calls answered 5000/4000,
// and a little latency on every answer. The seed is fixed so a failure can
// be replayed (the order of calls still varies from run to run).
func pcloudKnobs() pcloudemu.Options {
	return pcloudemu.Options{
		ListLag:          2 * time.Second,
		FreshDeleteFails: true,
		FreshLinkFails:   true,
		ErrorRate:        0.02,
		Latency:          5 * time.Millisecond,
		Seed:             5,
	}
}

// startSteadyrest runs steadyrest on the emulator's folder path through
// the named remote of the emulator's rclone.conf. With requestLog it logs
// every request (for checkRequestLog).
func startSteadyrest(t *testing.T, e *e2e.Emulator, path string, requestLog bool, flags ...string) *e2e.Server {
	t.Helper()
	extra := append([]string{"--rclone-config", e.Conf}, flags...)
	if !requestLog {
		extra = append(extra, "--no-request-log")
	}
	return e2e.StartServer(t, e2e.SteadyrestSpec(steadyrestBin, e2e.EmulatorRemote+":"+path, t.TempDir(), extra...))
}

// startRclone runs rclone serve restic (rclone-lag: rclone v1.76.0's own
// CLI, the version steadyrest links) on the emulator's folder path. The
// command-line --config wins over the spec's RCLONE_CONFIG=/nonexistent.
func startRclone(t *testing.T, e *e2e.Emulator, path string) *e2e.Server {
	t.Helper()
	spec := e2e.RcloneServeResticSpec(rcloneLagBin, e2e.EmulatorRemote+":"+path, "--config", e.Conf)
	return e2e.StartServer(t, spec)
}
