package e2e

import (
	"path"
	"path/filepath"
	"testing"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// EmulatorRemote is the rclone.conf section StartEmulator writes.
const EmulatorRemote = "pcloudemu"

// Emulator is a pCloud API emulator in the test process, its lag kept on
// the server side so that every process in front of it (several
// steadyrest instances, or rclone serve restic) sees the same lagging
// remote (the lag backend keeps its lag per process), and an rclone.conf
// naming it.
type Emulator struct {
	*pcloudemu.Server
	Conf string // rclone.conf with an [EmulatorRemote] section
}

// StartEmulator runs the emulator with opt and writes its rclone.conf;
// both go away at the test's cleanup, where the emulator's counters are
// logged.
func StartEmulator(t testing.TB, opt pcloudemu.Options) *Emulator {
	t.Helper()
	srv, err := pcloudemu.New(opt)
	if err != nil {
		t.Fatalf("start pcloud emulator: %v", err)
	}
	e := &Emulator{Server: srv, Conf: filepath.Join(t.TempDir(), "rclone.conf")}
	t.Cleanup(func() {
		st := srv.Stats()
		t.Logf("emulator: %d injected errors, %d fresh deletes refused, %d fresh links refused, calls %v",
			st.InjectedErrors, st.FreshDeleteRefusals, st.FreshLinkRefusals, st.Calls)
		if err := srv.Close(); err != nil {
			t.Errorf("close emulator: %v", err)
		}
	})
	if err := srv.WriteRcloneConf(e.Conf, EmulatorRemote); err != nil {
		t.Fatalf("write rclone.conf: %v", err)
	}
	t.Logf("pcloud emulator on %s (list lag %v, fresh deletes refused %v, fresh links refused %v, error rate %v, latency %v)",
		srv.URL(), opt.ListLag, opt.FreshDeleteFails, opt.FreshLinkFails, opt.ErrorRate, opt.Latency)
	return e
}

// Stored reports whether the emulator really holds the file at p (a path
// below the emulator's root, e.g. "multi/repo/locks/abc"), whatever its
// listings show.
func (e *Emulator) Stored(p string) bool {
	_, ok := e.Stat(path.Join("/", p))
	return ok
}
