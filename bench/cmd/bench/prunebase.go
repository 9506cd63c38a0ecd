package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/steadyrest/steadyrest/internal/e2e/consistency"
)

// pruneBase is the prune scenario's repository, built once: a small backup
// plus packs no index references, as interrupted backups leave them.
type pruneBase struct {
	dir   string          // remote/repo and cache below it
	unref map[string]bool // names of the unreferenced packs
}

// unrefRE is restic prune's count of the packs it removes because no index
// references them ("to delete: 20 unreferenced packs", with -v).
var unrefRE = regexp.MustCompile(`(?m)^to delete:\s+(\d+) unreferenced packs`)

// pruneBaseRepo builds the repository once (kept in the work folder and
// reused), through restic's own local backend, neutral to the servers:
// init, a backup of 20 small files, then n packs of 512 random bytes named
// by their SHA-256 (what restic names a pack by) in data/xx/. restic itself
// must then find exactly n packs to delete (`prune --dry-run -v`).
func (b *bench) pruneBaseRepo(ctx context.Context, n int) (*pruneBase, error) {
	base := &pruneBase{dir: filepath.Join(b.c.work, fmt.Sprintf("prune-base-%d", n))}
	list := filepath.Join(base.dir, "unreferenced.txt")
	marker := filepath.Join(base.dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return base, base.readUnref(list)
	}
	logf("building a repository with %d unreferenced packs (once) in %s", n, base.dir)
	if err := os.RemoveAll(base.dir); err != nil {
		return nil, fmt.Errorf("clean %s: %w", base.dir, err)
	}
	src := filepath.Join(base.dir, "src")
	if err := consistency.GenerateFiles(src, 24, 20, 16<<10); err != nil {
		return nil, err
	}
	repo := filepath.Join(base.dir, "remote", "repo")
	cache := filepath.Join(base.dir, "cache")
	if _, _, err := b.r.run(ctx, repo, cache, "init"); err != nil {
		return nil, err
	}
	if _, _, err := b.r.run(ctx, repo, cache, "backup", "-q", src); err != nil {
		return nil, err
	}
	names, err := writeUnrefPacks(filepath.Join(repo, "data"), n)
	if err != nil {
		return nil, err
	}
	_, out, err := b.r.run(ctx, repo, cache, "prune", "--dry-run", "-v")
	if err != nil {
		return nil, err
	}
	m := unrefRE.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(n) {
		return nil, fmt.Errorf("restic prune --dry-run does not find %d unreferenced packs to delete in %s:\n%s", n, repo, tail(out, 2000))
	}
	if err := os.WriteFile(list, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", list, err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return nil, fmt.Errorf("write marker: %w", err)
	}
	return base, base.readUnref(list)
}

// writeUnrefPacks writes n packs of 512 random bytes into the data folder
// and returns their names.
func writeUnrefPacks(data string, n int) ([]string, error) {
	src := rand.NewChaCha8([32]byte{'p', 'r', 'u', 'n', 'e'})
	buf := make([]byte, 512)
	names := make([]string, 0, n)
	for i := 0; i < n; i++ {
		_, _ = src.Read(buf)
		sum := sha256.Sum256(buf)
		name := hex.EncodeToString(sum[:])
		d := filepath.Join(data, name[:2])
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("mkdir: %w", err)
		}
		if err := os.WriteFile(filepath.Join(d, name), buf, 0o600); err != nil {
			return nil, fmt.Errorf("write pack: %w", err)
		}
		names = append(names, name)
	}
	return names, nil
}

func (p *pruneBase) readUnref(list string) error {
	f, err := os.Open(list)
	if err != nil {
		return fmt.Errorf("unreferenced packs: %w", err)
	}
	defer f.Close()
	p.unref = map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			p.unref[l] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", list, err)
	}
	return nil
}

// repo is the base repository's folder; cache its restic cache.
func (p *pruneBase) repo() string  { return filepath.Join(p.dir, "remote", "repo") }
func (p *pruneBase) cache() string { return filepath.Join(p.dir, "cache") }
