package e2e

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

type snapshot struct {
	ID    string   `json:"id"`
	Paths []string `json:"paths"`
	Tree  string   `json:"tree"`
}

func snapshots(t *testing.T, r *Restic) []snapshot {
	t.Helper()
	res := r.MustRun("snapshots", "--json")
	var snaps []snapshot
	if err := json.Unmarshal([]byte(res.Stdout), &snaps); err != nil {
		t.Fatalf("snapshots --json: %v\nstdout:\n%s\noutput:\n%s", err, res.Stdout, res.Output)
	}
	return snaps
}

func wantSnapshots(t *testing.T, r *Restic, n int) []snapshot {
	t.Helper()
	s := snapshots(t, r)
	if len(s) != n {
		t.Fatalf("snapshots: got %d, want %d: %+v", len(s), n, s)
	}
	return s
}

// fullCycle runs init, two backups, restore, forget --prune, check
// --read-data and a second restore through r, comparing restores with the
// source byte for byte.
func fullCycle(t *testing.T, r *Restic, tree TreeOptions) {
	src := t.TempDir()
	st := GenerateTree(t, src, tree)
	t.Logf("source tree: %d files, %d dirs, %.1f MB", st.Files, st.Dirs, float64(st.Bytes)/1e6)

	r.MustRun("init")
	r.MustRunIn(src, "backup", "--host", "e2e", ".")
	first := wantSnapshots(t, r, 1)

	ModifyTree(t, src, tree.Seed)
	r.MustRunIn(src, "backup", "--host", "e2e", ".")
	both := wantSnapshots(t, r, 2)
	var second snapshot
	for _, s := range both {
		if s.ID != first[0].ID {
			second = s
		}
	}
	if second.ID == "" || second.Tree == first[0].Tree {
		t.Fatalf("second backup did not record the change: %+v", both)
	}

	dst := t.TempDir()
	r.MustRun("restore", second.ID, "--target", dst)
	CompareTrees(t, src, dst)

	r.MustRun("forget", "--keep-last", "1", "--prune")
	kept := wantSnapshots(t, r, 1)
	if kept[0].ID != second.ID {
		t.Fatalf("forget --keep-last 1 kept %s, want the latest %s", kept[0].ID, second.ID)
	}
	r.MustRun("check", "--read-data")

	// prune rewrote packs and indexes: the data must still be all there.
	dst2 := t.TempDir()
	r.MustRun("restore", "latest", "--target", dst2)
	CompareTrees(t, src, dst2)
}

func TestFullCycleLocal(t *testing.T) {
	restic := DefaultRestic(t)
	remote := t.TempDir()
	srv := startServer(t, remote)
	fullCycle(t, NewRestic(t, restic, srv.URL("repo")), DefaultTree)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	// What the server left on disk is a plain restic repository.
	repoDir := filepath.Join(remote, "repo")
	lay := CheckLocalLayout(t, repoDir)
	if lay["keys"] != 1 || lay["snapshots"] != 1 || lay["locks"] != 0 || lay["index"] == 0 || lay["data"] == 0 {
		t.Errorf("repository counts: got %v, want 1 key, 1 snapshot, no locks, some index and data", map[string]int(lay))
	}
	local := NewRestic(t, restic, repoDir)
	local.MustRun("check")
	wantSnapshots(t, local, 1)
}

func TestFullCycleMemory(t *testing.T) {
	restic := DefaultRestic(t)
	srv := startServer(t, ":memory:")
	fullCycle(t, NewRestic(t, restic, srv.URL("repo")), DefaultTree)
}
