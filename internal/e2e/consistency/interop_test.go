package consistency

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// A repository made through `rclone serve restic` is served by steadyrest
// as it is, and the other way round: both keep restic's own layout on the
// remote, so moving over needs no conversion (README, "Moving over").
func TestMovingBetweenRcloneServeResticAndSteadyrest(t *testing.T) {
	restic := e2e.DefaultRestic(t)
	remote := t.TempDir()
	src := t.TempDir()
	e2e.GenerateTree(t, src, safetyTree)

	snapshots := func(r *e2e.Restic) int {
		t.Helper()
		var snaps []json.RawMessage
		res := r.MustRun("snapshots", "--json")
		if err := json.Unmarshal([]byte(res.Stdout), &snaps); err != nil {
			t.Fatalf("snapshots --json: %v\n%s", err, res.Stdout)
		}
		return len(snaps)
	}

	rc := startRclone(t, remote)
	r := e2e.NewRestic(t, restic, rc.URL("repo"))
	r.MustRun("init")
	r.MustRun("backup", "--host", "h", src)
	if err := rc.Stop(); err != nil {
		t.Fatalf("stop rclone serve restic: %v", err)
	}

	sr := startSteadyrest(t, remote)
	r = e2e.NewRestic(t, restic, sr.URL("repo"))
	if n := snapshots(r); n != 1 {
		t.Fatalf("steadyrest shows %d snapshots of rclone serve restic's repository, want 1", n)
	}
	r.MustRun("check", "--read-data")
	target := t.TempDir()
	r.MustRun("restore", "latest", "--target", target)
	e2e.CompareTrees(t, src, filepath.Join(target, src))
	e2e.ModifyTree(t, src, 8)
	r.MustRun("backup", "--host", "h", src)
	if err := sr.Stop(); err != nil {
		t.Fatalf("stop steadyrest: %v", err)
	}

	rc = startRclone(t, remote)
	r = e2e.NewRestic(t, restic, rc.URL("repo"))
	if n := snapshots(r); n != 2 {
		t.Fatalf("rclone serve restic shows %d snapshots after steadyrest's backup, want 2", n)
	}
	r.MustRun("check", "--read-data")
	target = t.TempDir()
	r.MustRun("restore", "latest", "--target", target)
	e2e.CompareTrees(t, src, filepath.Join(target, src))
	if err := rc.Stop(); err != nil {
		t.Fatalf("stop rclone serve restic: %v", err)
	}
	// Nothing of steadyrest's own (journal, temporary files) on the remote.
	e2e.CheckLocalLayout(t, filepath.Join(remote, "repo"))
}
