package testutil

import (
	"context"
	"strings"
	"testing"

	_ "github.com/rclone/rclone/backend/local" // LagRemote's folder
	"github.com/rclone/rclone/fs"
)

// LagSpec returns the rclone connection string of the lag backend over
// remote (a folder or any rclone remote, quoted here so that commas,
// colons and quotes in it are kept), with opts ("create_lag=3s", or
// several joined by commas) as its options; commas around an opt and
// empty opts are dropped.
func LagSpec(remote string, opts ...string) string {
	parts := []string{":lag", "remote='" + strings.ReplaceAll(remote, "'", "''") + "'"}
	for _, o := range opts {
		if o = strings.Trim(o, ","); o != "" {
			parts = append(parts, o)
		}
	}
	return strings.Join(parts, ",") + ":"
}

// LagRemote opens LagSpec over a fresh temporary folder through rclone, as
// a user's connection string is opened, and returns the Fs and the folder
// (to look at what really landed on disk). The test must link the lag
// backend (import internal/lagfs).
func LagRemote(t testing.TB, opts ...string) (fs.Fs, string) {
	t.Helper()
	if _, err := fs.Find("lag"); err != nil {
		t.Fatalf("the lag backend is not linked into this test (import internal/lagfs): %v", err)
	}
	dir := t.TempDir()
	spec := LagSpec(dir, opts...)
	f, err := fs.NewFs(context.Background(), spec)
	if err != nil {
		t.Fatalf("NewFs(%s): %v", spec, err)
	}
	return f, dir
}

// LagFs is LagRemote for a test that needs only the Fs.
func LagFs(t testing.TB, opts ...string) fs.Fs {
	t.Helper()
	f, _ := LagRemote(t, opts...)
	return f
}
