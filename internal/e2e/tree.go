package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TreeStats describes a generated tree.
type TreeStats struct {
	Files, Dirs int
	Bytes       int64
}

// TreeOptions sizes GenerateTree.
type TreeOptions struct {
	Seed uint64
	// BigFile is the size of one incompressible file (e.g. 20 MiB).
	BigFile int64
	// Dirs x FilesPerDir small files (0 B .. 64 KiB, some empty, some 1 B,
	// some compressible text).
	Dirs, FilesPerDir int
	// Medium files of 256 KiB .. 1 MiB.
	Medium int
}

// DefaultTree is a few hundred files, ~27 MB.
var DefaultTree = TreeOptions{Seed: 1, BigFile: 20 << 20, Dirs: 8, FilesPerDir: 35, Medium: 6}

// GenerateTree writes a deterministic tree of files into dir.
func GenerateTree(t testing.TB, dir string, o TreeOptions) TreeStats {
	t.Helper()
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed))
	src := rand.NewChaCha8(seed32(o.Seed))
	var st TreeStats
	write := func(rel string, data []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("mkdir: %v", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatalf("write %s: %v", rel, err)
		}
		st.Files++
		st.Bytes += int64(len(data))
	}
	random := func(n int64) []byte {
		b := make([]byte, n)
		_, _ = src.Read(b)
		return b
	}
	if o.BigFile > 0 {
		write("big/random.bin", random(o.BigFile))
	}
	for i := 0; i < o.Medium; i++ {
		write(fmt.Sprintf("medium/m%02d.bin", i), random(256<<10+rng.Int64N(768<<10)))
	}
	for d := 0; d < o.Dirs; d++ {
		for f := 0; f < o.FilesPerDir; f++ {
			rel := fmt.Sprintf("small/d%02d/f%03d", d, f)
			switch f % 7 {
			case 0:
				write(rel+".empty", nil)
			case 1:
				write(rel+".tiny", random(1))
			case 2:
				// Compressible text exercises restic's compression path.
				line := fmt.Sprintf("line of text %d in dir %d, repeated to compress well\n", f, d)
				write(rel+".txt", []byte(strings.Repeat(line, 1+rng.IntN(400))))
			default:
				write(rel+".bin", random(rng.Int64N(64<<10)))
			}
		}
	}
	// Deep nesting and an empty directory are part of the tree too.
	write("deep/a/b/c/d/e/f/leaf.txt", []byte("leaf\n"))
	if err := os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	st.Dirs = countDirs(t, dir)
	return st
}

// ModifyTree changes a tree the way a second day of work would: one file
// rewritten, one removed, one new medium file added.
func ModifyTree(t testing.TB, dir string, seed uint64) {
	t.Helper()
	src := rand.NewChaCha8(seed32(seed + 1000))
	newData := make([]byte, 1<<20)
	_, _ = src.Read(newData)
	if err := os.MkdirAll(filepath.Join(dir, "added"), 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "added", "new.bin"), newData, 0o644); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "deep/a/b/c/d/e/f/leaf.txt"), []byte("leaf, changed\n"), 0o644); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "small/d00/f003.bin")); err != nil {
		t.Fatalf("remove: %v", err)
	}
}

func seed32(s uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		v := s + uint64(i)*0x9e3779b97f4a7c15
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func countDirs(t testing.TB, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return n
}

type treeEntry struct {
	dir  bool
	mode fs.FileMode
	size int64
}

func scanTree(t testing.TB, root string) map[string]treeEntry {
	t.Helper()
	m := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			return fmt.Errorf("%s: unexpected file type %v", rel, info.Mode())
		}
		m[rel] = treeEntry{dir: info.IsDir(), mode: info.Mode().Perm(), size: info.Size()}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return m
}

// CompareTrees fails the test unless got holds exactly the directories and
// regular files of want, with the same permissions and the same bytes.
func CompareTrees(t testing.TB, want, got string) {
	t.Helper()
	w, g := scanTree(t, want), scanTree(t, got)
	var problems []string
	for rel, we := range w {
		ge, ok := g[rel]
		switch {
		case !ok:
			problems = append(problems, "missing: "+rel)
		case we.dir != ge.dir:
			problems = append(problems, "type differs: "+rel)
		case we.mode != ge.mode:
			problems = append(problems, fmt.Sprintf("mode differs: %s: %v != %v", rel, ge.mode, we.mode))
		case !we.dir && we.size != ge.size:
			problems = append(problems, fmt.Sprintf("size differs: %s: %d != %d", rel, ge.size, we.size))
		case !we.dir:
			a, err := os.ReadFile(filepath.Join(want, rel))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			b, err := os.ReadFile(filepath.Join(got, rel))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(a, b) {
				problems = append(problems, "content differs: "+rel)
			}
		}
	}
	for rel := range g {
		if _, ok := w[rel]; !ok {
			problems = append(problems, "unexpected: "+rel)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
		}
		t.Fatalf("restored tree %s differs from %s:\n  %s", got, want, strings.Join(problems, "\n  "))
	}
	t.Logf("restored tree matches source: %d entries", len(w))
}

var (
	idRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hex2RE = regexp.MustCompile(`^[0-9a-f]{2}$`)
)

// RepoLayout counts the files of a restic repository on disk, by type.
type RepoLayout map[string]int

// CheckLocalLayout fails the test unless dir is laid out exactly as restic's
// local backend lays out a repository: a config file, and keys/, locks/,
// snapshots/, index/, data/xx/ holding files named by the SHA-256 of their
// content (data only under the two-hex-digit folder of its name's prefix),
// and nothing else (no temporary or partial files).
func CheckLocalLayout(t testing.TB, dir string) RepoLayout {
	t.Helper()
	lay := RepoLayout{}
	top, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read repo dir: %v", err)
	}
	allowed := map[string]bool{"config": true, "data": true, "index": true, "keys": true, "locks": true, "snapshots": true}
	for _, e := range top {
		if !allowed[e.Name()] {
			t.Errorf("unexpected entry at repository top level: %s", e.Name())
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "config")); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		t.Errorf("config file missing or empty: %v", err)
	}
	checkFile := func(tpe, p string) {
		name := filepath.Base(p)
		if !idRE.MatchString(name) {
			t.Errorf("%s: file name is not a restic ID: %s", tpe, p)
			return
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			return
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != name {
			t.Errorf("%s: content of %s does not hash to its name", tpe, p)
		}
		lay[tpe]++
	}
	for _, tpe := range []string{"keys", "locks", "snapshots", "index"} {
		ents, err := os.ReadDir(filepath.Join(dir, tpe))
		if err != nil {
			t.Errorf("read %s: %v", tpe, err)
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("unexpected folder %s/%s", tpe, e.Name())
				continue
			}
			checkFile(tpe, filepath.Join(dir, tpe, e.Name()))
		}
	}
	subs, err := os.ReadDir(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatalf("read data: %v", err)
	}
	for _, s := range subs {
		if !s.IsDir() || !hex2RE.MatchString(s.Name()) {
			t.Errorf("unexpected entry in data/: %s", s.Name())
			continue
		}
		ents, err := os.ReadDir(filepath.Join(dir, "data", s.Name()))
		if err != nil {
			t.Fatalf("read data/%s: %v", s.Name(), err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), s.Name()) {
				t.Errorf("data/%s/%s is in the wrong folder", s.Name(), e.Name())
			}
			checkFile("data", filepath.Join(dir, "data", s.Name(), e.Name()))
		}
	}
	t.Logf("repository layout at %s: %v", dir, map[string]int(lay))
	return lay
}
