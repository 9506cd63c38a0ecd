// Package scrube2e holds the end-to-end tests of `steadyrest scrub` (issue
// 25 item 2) and their fixture: a repository made by the real restic in a
// local folder, then damaged behind everyone's back the way failed pCloud
// uploads damage packs (one cut short, one with flipped bytes).
package scrube2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/pcloud"
	rfs "github.com/rclone/rclone/fs"
	rsync "github.com/rclone/rclone/fs/sync"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/scrub"
)

// Repo is a restic repository in a local folder.
type Repo struct {
	Dir    string
	Restic *e2e.Restic
	// Truncated and Corrupted are the packs Damage broke (full IDs),
	// Truncated cut to half its size, Corrupted the same size with bytes
	// flipped.
	Truncated, Corrupted string
}

// NewRepo makes a repository with the real restic (RESTIC, else
// .tools/bin/restic): init and three backups of a generated tree that
// changes between them, so there are several data and tree packs.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	bin := e2e.DefaultRestic(t)
	base := t.TempDir()
	r := &Repo{Dir: filepath.Join(base, "repo")}
	r.Restic = e2e.NewRestic(t, bin, r.Dir)
	src := filepath.Join(base, "src")
	e2e.GenerateTree(t, src, e2e.TreeOptions{Seed: 25, BigFile: 1 << 20, Dirs: 3, FilesPerDir: 8, Medium: 2})
	r.Restic.MustRun("init")
	for i := range 3 {
		if i == 1 {
			e2e.ModifyTree(t, src, 25)
		}
		if i > 0 {
			if err := os.WriteFile(filepath.Join(src, "added", "day.txt"), []byte(strings.Repeat(fmt.Sprintf("day %d\n", i), 100*i)), 0o644); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		r.Restic.MustRunIn(src, "backup", "--no-scan", ".")
	}
	return r
}

// Packs returns the IDs of the data packs, sorted.
func (r *Repo) Packs(t testing.TB) []string {
	t.Helper()
	var ids []string
	err := filepath.WalkDir(filepath.Join(r.Dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			ids = append(ids, d.Name())
		}
		return err
	})
	if err != nil {
		t.Fatalf("walk data/: %v", err)
	}
	slices.Sort(ids)
	if len(ids) < 2 {
		t.Fatalf("restic made %d packs, want at least 2", len(ids))
	}
	return ids
}

// PackPath is the file of pack id.
func (r *Repo) PackPath(id string) string { return filepath.Join(r.Dir, "data", id[:2], id) }

// Damage cuts the first pack to half its size and flips 16 bytes in the
// middle of the last, writing the files directly.
func (r *Repo) Damage(t testing.TB) {
	t.Helper()
	ids := r.Packs(t)
	r.Truncated, r.Corrupted = ids[0], ids[len(ids)-1]
	// restic writes packs read-only (0400 by default); the damage does not care.
	p := r.PackPath(r.Truncated)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	p = r.PackPath(r.Corrupted)
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	for i := len(b) / 2; i < len(b)/2+16 && i < len(b); i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	t.Logf("damaged packs: truncated %s, corrupted %s", r.Truncated, r.Corrupted)
}

// TreeDigest maps every file below dir to its size, mode, modification
// time and SHA-256, to prove a scrub changed nothing.
func TreeDigest(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = fi.Mode().String() + " " + fi.ModTime().String()
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			// restic's 0400 files are readable by their owner; root reads all.
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = fi.Mode().String() + " " + fi.ModTime().String() + " " + hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatalf("digest %s: %v", dir, err)
	}
	return out
}

// CopyTo copies the repository into the rclone remote dst (e.g. the
// pCloud emulator) with rclone's own copy.
func (r *Repo) CopyTo(ctx context.Context, t testing.TB, dst string) {
	t.Helper()
	fsrc, err := rfs.NewFs(ctx, r.Dir)
	if err != nil {
		t.Fatalf("open %s: %v", r.Dir, err)
	}
	fdst, err := rfs.NewFs(ctx, dst)
	if err != nil {
		t.Fatalf("open %s: %v", dst, err)
	}
	if err := rsync.CopyDir(ctx, fdst, fsrc, true); err != nil {
		t.Fatalf("copy the repository to %s: %v", dst, err)
	}
}

// Findings are a report's findings as "kind path", in the report's order
// (sorted by path).
func Findings(fs []scrub.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Kind)+" "+f.Path)
	}
	return out
}

// WantFindings are the findings a scrub of the damaged repository should
// give, the repository at prefix ("" or "alice/") below the scrubbed path.
func (r *Repo) WantFindings(prefix string) []string {
	want := []string{
		"wrong-hash " + prefix + "data/" + r.Truncated[:2] + "/" + r.Truncated,
		"wrong-hash " + prefix + "data/" + r.Corrupted[:2] + "/" + r.Corrupted,
	}
	slices.Sort(want)
	return want
}
