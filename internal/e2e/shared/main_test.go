package shared

import (
	"os"
	"testing"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// steadyrestBin is built once by TestMain; E2E_RACE=1 builds it with the
// race detector (a race then makes an instance exit 66, which fails the
// test when the instance is stopped).
var steadyrestBin string

func TestMain(m *testing.M) {
	os.Exit(e2e.RunWithBinaries(m, "shared",
		e2e.Binary{Pkg: "./cmd/steadyrest", Dst: &steadyrestBin, Race: true}))
}
