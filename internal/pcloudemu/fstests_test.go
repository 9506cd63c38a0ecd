//go:build fstests

// rclone's own backend test suite against the emulator. Behind a build tag
// because it takes about a minute:
//
//	go test -tags fstests -run TestRcloneFstests ./internal/pcloudemu/
package pcloudemu_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rclone/rclone/backend/pcloud"
	"github.com/rclone/rclone/fstest/fstests"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

func TestRcloneFstests(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{})
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	if err := srv.WriteRcloneConf(conf, "TestPcloud"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RCLONE_CONFIG", conf)
	// fstests looks for rclone's fstest/testserver/init.d (scripts that start
	// test servers) from the working directory; an empty one means "nothing
	// to start", which is right since the emulator is already running.
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "fstest", "testserver", "init.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	fstests.Run(t, &fstests.Opt{
		RemoteName: "TestPcloud:",
		NilObject:  (*pcloud.Object)(nil),
	})
}
