package lagfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rclone/rclone/fstest/fstests"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// TestIntegration runs rclone's own backend conformance suite over a lag
// remote with no lag configured, proving the wrapper is a faithful rclone
// backend when the knobs are off.
func TestIntegration(t *testing.T) {
	// fstests looks for rclone's test server scripts relative to the working
	// directory; an empty script dir tells it there is no server to start.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "fstest", "testserver", "init.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for name, remote := range map[string]string{
		"memory": testutil.LagSpec(":memory:"),
		"local":  testutil.LagSpec(filepath.Join(dir, "local")),
	} {
		t.Run(name, func(t *testing.T) { runFstests(t, remote) })
	}
}

func runFstests(t *testing.T, remote string) {
	fstests.Run(t, &fstests.Opt{
		RemoteName: remote,
		NilObject:  (*Object)(nil),
		UnimplementableFsMethods: []string{
			"OpenWriterAt", "OpenChunkWriter", "Purge", "Copy", "Move", "DirMove",
			"ChangeNotify", "PutUnchecked", "MergeDirs", "DirCacheFlush", "PublicLink",
			"CleanUp", "UserInfo", "Disconnect", "DirSetModTime", "MkdirMetadata", "ListP",
		},
		UnimplementableObjectMethods: []string{"ID", "GetTier", "SetTier", "Metadata", "SetMetadata"},
		QuickTestOK:                  true,
	})
}
