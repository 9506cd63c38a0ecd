package e2e

import (
	"strings"
	"testing"
)

// Debian's restic 0.14 is still in the wild; keep it working.
func TestRestic014(t *testing.T) {
	old := ResticBin(t, "RESTIC014", "/usr/bin/restic")
	if v := NewRestic(t, old, "").Run("version"); !strings.Contains(v.Output, "restic 0.14") {
		t.Fatalf("RESTIC014=%s is not restic 0.14: %s", old, v.Output)
	}
	srv := startServer(t, t.TempDir())
	r := NewRestic(t, old, srv.URL("repo014"))

	src := t.TempDir()
	st := GenerateTree(t, src, TreeOptions{Seed: 14, BigFile: 4 << 20, Dirs: 4, FilesPerDir: 20, Medium: 2})
	t.Logf("source tree: %d files, %.1f MB", st.Files, float64(st.Bytes)/1e6)

	r.MustRun("init")
	r.MustRunIn(src, "backup", "--host", "e2e", ".")
	dst := t.TempDir()
	r.MustRun("restore", "latest", "--target", dst)
	CompareTrees(t, src, dst)
	r.MustRun("check", "--read-data")

	// The current restic reads what the old one wrote through the server.
	cur := NewRestic(t, DefaultRestic(t), srv.URL("repo014"))
	cur.MustRun("check", "--read-data")
	wantSnapshots(t, cur, 1)
}
