package pcloud

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// readWarning matches what restic prints when a read fails and it retries
// or gives up ("Load(<data/…>) returned error, retrying after …",
// "… failed: …", "Fatal: …").
var readWarning = regexp.MustCompile(`(?i)returned error|retrying|failed|fatal|error:`)

// TestCheckReadDataRightAfterBackup: on a pCloud whose new files cannot be
// downloaded for 150 s (getfilelink answers 2009 for them), `check
// --read-data` right after a 40 MB backup reads every pack from the
// spool: it passes without a warning line, and the emulator serves no
// download at all while it runs. Without the spool the packs above the
// content cache's limit would be read from the remote, which refuses them
// for the whole 150 s.
func TestCheckReadDataRightAfterBackup(t *testing.T) {
	restic := e2e.DefaultRestic(t)
	emu := e2e.StartEmulator(t, pcloudemu.Options{
		ListLag: 3 * time.Second, FreshDeleteFails: true, FreshLinkFails: true, FreshWindow: 150 * time.Second,
		Latency: 5 * time.Millisecond, Seed: 3,
	})
	srv := startSteadyrest(t, emu, "spool", false)
	r := e2e.NewRestic(t, restic, srv.URL("repo"))
	src := filepath.Join(t.TempDir(), "src")
	tree := e2e.GenerateTree(t, src, e2e.TreeOptions{Seed: 11, BigFile: 36 << 20, Dirs: 2, FilesPerDir: 10, Medium: 4})
	r.MustRun("init")
	r.MustRun("backup", "--no-scan", src)

	before := emu.Stats()
	check := r.MustRun("check", "--read-data")
	after := emu.Stats()
	if w := readWarning.FindAllString(check.Output, -1); len(w) > 0 {
		t.Errorf("check --read-data printed warnings %q:\n%s", w, check.Output)
	}
	links := after.Calls["getfilelink"] - before.Calls["getfilelink"]
	downloads := after.Calls["download"] - before.Calls["download"]
	if links != 0 || downloads != 0 || after.FreshLinkRefusals != before.FreshLinkRefusals {
		t.Errorf("check --read-data of a %d-byte backup went to the remote: %d getfilelink, %d downloads, %d refused",
			tree.Bytes, links, downloads, after.FreshLinkRefusals-before.FreshLinkRefusals)
	}
	t.Logf("check --read-data right after a backup of %d bytes, downloads refused for 150 s: passed with no remote read", tree.Bytes)
}
