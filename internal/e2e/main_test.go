package e2e

import (
	"fmt"
	"os"
	"testing"
)

// Which server the tests drive: E2E_SERVER=steadyrest (default) or
// E2E_SERVER=rclone (rclone serve restic from ./cmd/rclone-lag, the same
// rclone version), so the suite can be pointed at the reference server.
// E2E_RACE=1 builds the server with the race detector (a race then makes
// it exit 66, which fails the test at stop).
var (
	serverKind string
	serverBin  string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	serverKind = os.Getenv("E2E_SERVER")
	if serverKind == "" {
		serverKind = "steadyrest"
	}
	pkg := "./cmd/steadyrest"
	switch serverKind {
	case "steadyrest":
	case "rclone":
		pkg = "./cmd/rclone-lag"
	default:
		fmt.Fprintf(os.Stderr, "e2e: unknown E2E_SERVER=%q (want steadyrest or rclone)\n", serverKind)
		return 2
	}
	return RunWithBinaries(m, "e2e", Binary{Pkg: pkg, Dst: &serverBin, Race: true})
}

// startServer starts the server under test on remote.
func startServer(t *testing.T, remote string) *Server {
	t.Helper()
	if serverKind == "rclone" {
		return StartServer(t, RcloneServeResticSpec(serverBin, remote))
	}
	return StartServer(t, SteadyrestSpec(serverBin, remote, t.TempDir()))
}
