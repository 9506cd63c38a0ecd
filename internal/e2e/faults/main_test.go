package faults

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

var (
	steadyrestBin string
	emulatorBin   string
)

func TestMain(m *testing.M) {
	os.Exit(e2e.RunWithBinaries(m, "faults",
		e2e.Binary{Pkg: "./cmd/steadyrest", Dst: &steadyrestBin, Race: true},
		e2e.Binary{Pkg: "./cmd/pcloud-emulator", Dst: &emulatorBin}))
}

// startSteadyrest runs steadyrest on remote with stateDir, listening on
// listen (127.0.0.1:0 for a free port). extra flags are appended; env is
// added to a clean environment.
func startSteadyrest(t testing.TB, remote, stateDir, listen string, env []string, extra ...string) *e2e.Server {
	t.Helper()
	spec := e2e.SteadyrestSpec(steadyrestBin, remote, stateDir, append([]string{"--listen", listen}, extra...)...)
	spec.Env = env
	// A race-built server under these loads may take long to drain.
	spec.StopTimeout = 20 * time.Second
	return e2e.StartServer(t, spec)
}

// mustStop stops srv and fails the test unless it exits 0 in time.
func mustStop(t testing.TB, srv *e2e.Server) {
	t.Helper()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
}

// scanRepo checks every file below a repository folder on disk: each
// object's SHA-256 equals its name (config excepted), so no partial upload
// exists under a final name. It returns the number of objects checked.
func scanRepo(t testing.TB, repoDir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(repoDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(repoDir, p)
		if rel == "config" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != d.Name() {
			t.Errorf("remote file %s (%d bytes) does not match its name: a partial or damaged object", rel, len(b))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", repoDir, err)
	}
	return n
}
