package consistency

import (
	"os"
	"testing"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// Binaries built once by TestMain. E2E_RACE=1 builds the servers with the
// race detector (slower; the tests' own code runs under -race anyway).
var (
	steadyrestBin string
	rcloneLagBin  string
	emulatorBin   string
)

func TestMain(m *testing.M) {
	os.Exit(e2e.RunWithBinaries(m, "consistency",
		e2e.Binary{Pkg: "./cmd/steadyrest", Dst: &steadyrestBin, Race: true},
		e2e.Binary{Pkg: "./cmd/rclone-lag", Dst: &rcloneLagBin, Race: true},
		e2e.Binary{Pkg: "./cmd/pcloud-emulator", Dst: &emulatorBin, Race: true}))
}

// startSteadyrest runs steadyrest on remote with its state in a temp dir.
func startSteadyrest(t *testing.T, remote string, extra ...string) *e2e.Server {
	t.Helper()
	return e2e.StartServer(t, e2e.SteadyrestSpec(steadyrestBin, remote, t.TempDir(), append([]string{"--no-request-log"}, extra...)...))
}

// startRclone runs rclone serve restic (rclone-lag build) on remote.
func startRclone(t *testing.T, remote string) *e2e.Server {
	t.Helper()
	return e2e.StartServer(t, e2e.RcloneServeResticSpec(rcloneLagBin, remote))
}
