package scrub_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/pcloud"
	"github.com/rclone/rclone/fs"
	rsync "github.com/rclone/rclone/fs/sync"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
	"github.com/steadyrest/steadyrest/scrub"
)

// blob is content long enough to be a restic file, and its ID.
func blob(seed string) ([]byte, string) {
	b := []byte(strings.Repeat(seed+" restic file content ", 4))
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func write(t *testing.T, root, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// goodRepo writes a well-formed repository at rel: config, a key, an
// index, a snapshot, a lock and a pack.
func goodRepo(t *testing.T, root, rel string) {
	t.Helper()
	write(t, root, rel+"/config", []byte("encrypted config"))
	for _, dir := range []string{"keys", "index", "snapshots", "locks"} {
		b, id := blob(rel + dir)
		write(t, root, rel+"/"+dir+"/"+id, b)
	}
	b, id := blob(rel + "pack")
	write(t, root, rel+"/data/"+id[:2]+"/"+id, b)
}

func run(t *testing.T, dir string, opt scrub.Options) (*scrub.Report, error) {
	t.Helper()
	ctx := context.Background()
	f, err := fs.NewFs(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	return scrub.Run(ctx, f, opt)
}

// TestLayoutFindings: on rclone's local backend, every kind of finding
// is reported once, at its path, in the repository it belongs to;
// repositories are found at any depth; steadyrest's own folder and
// folders outside repositories are left alone.
func TestLayoutFindings(t *testing.T) {
	root := t.TempDir()
	goodRepo(t, root, "alice/r1")
	goodRepo(t, root, "bob/deep/r2")
	write(t, root, "notes/todo.txt", []byte("not in a repository"))
	write(t, root, ".steadyrest/instances/a", []byte("heartbeat"))
	write(t, root, "alice/r1/.steadyrest/instances/b", []byte("heartbeat"))

	r1 := "alice/r1/"
	packed, packID := blob("other pack")
	_, name := blob("changed")
	bad := map[string][]byte{
		"README":                             []byte("a stray file"),
		"tmp/x":                              []byte("in a stray folder"),
		"keys/sub/x":                         []byte("a folder in keys"),
		"snapshots/notes.txt":                []byte("foreign"),
		"data/stray.txt":                     []byte("directly in data"),
		"data/zz/x":                          []byte("not a prefix folder"),
		"data/ab/sub/x":                      []byte("a folder in a prefix folder"),
		"data/00/" + strings.Repeat("0", 64): nil,                  // empty pack
		"data/11/" + strings.Repeat("1", 64): []byte("ten bytes!"), // too short
		"data/22/" + "22" + name[2:]:         packed,               // wrong hash
		"data/ab/" + packID:                  packed,               // wrong folder (unless packID starts with ab)
		"index/" + name:                      packed,               // wrong hash, not a pack
		"locks/" + strings.ToUpper(name):     packed,               // uppercase hex: foreign
	}
	for rel, data := range bad {
		write(t, root, r1+rel, data)
	}
	rep, err := run(t, root, scrub.Options{Checkers: 3})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var got []string
	for _, f := range rep.Findings {
		if f.Repository != "alice/r1" {
			t.Errorf("finding %s in repository %q", f.Path, f.Repository)
		}
		got = append(got, string(f.Kind)+" "+strings.TrimPrefix(f.Path, r1))
	}
	want := []string{
		"stray README",
		"stray tmp/",
		"stray keys/sub/",
		"foreign snapshots/notes.txt",
		"foreign data/stray.txt",
		"stray data/zz/",
		"stray data/ab/sub/",
		"empty-pack data/00/" + strings.Repeat("0", 64),
		"wrong-size data/11/" + strings.Repeat("1", 64),
		"wrong-hash data/22/22" + name[2:],
		"foreign data/ab/" + packID,
		"wrong-hash index/" + name,
		"foreign locks/" + strings.ToUpper(name),
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("findings\n%q\nwant\n%q", got, want)
	}
	if !slices.Equal(rep.Repositories, []string{"alice/r1", "bob/deep/r2"}) {
		t.Errorf("repositories %q", rep.Repositories)
	}
	// 5+5 good objects, the empty and short packs, the two wrong hashes.
	if rep.Objects != 14 || rep.VerifiedRemote != 10 || rep.Outcome != scrub.Damaged {
		t.Errorf("objects %d, verified %d, outcome %s; want 14, 10, damaged", rep.Objects, rep.VerifiedRemote, rep.Outcome)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	// The repair command lists the broken packs, not the index.
	repair := "repository alice/r1: restic repair packs " + strings.Repeat("0", 64) + " " + strings.Repeat("1", 64) + " 22" + name[2:]
	if !strings.Contains(text.String(), repair) {
		t.Errorf("text report lacks %q:\n%s", repair, text.String())
	}
	b, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var js map[string]any
	if err := json.Unmarshal(b, &js); err != nil || js["exit_code"] != float64(scrub.ExitDamaged) || js["outcome"] != "damaged" {
		t.Errorf("JSON %s (err %v): want exit_code 3, outcome damaged", b, err)
	}
}

func TestNoRepository(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a/config", []byte("a config file, but no restic folders"))
	rep, err := run(t, root, scrub.Options{})
	if !errors.Is(err, scrub.ErrNoRepository) || rep.Outcome.ExitCode() == scrub.ExitClean {
		t.Errorf("err %v, outcome %s: want ErrNoRepository and not clean", err, rep.Outcome)
	}
}

func TestStopped(t *testing.T) {
	root := t.TempDir()
	goodRepo(t, root, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := fs.NewFs(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scrub.Run(ctx, f, scrub.Options{})
	if !errors.Is(err, context.Canceled) || !rep.Stopped || rep.Outcome != scrub.Incomplete || rep.Outcome.ExitCode() != scrub.ExitFailed {
		t.Errorf("err %v, stopped %v, outcome %s: want canceled, stopped, incomplete (exit 1)", err, rep.Stopped, rep.Outcome)
	}
}

// TestUncheckable: objects that cannot be read are errors, not findings
// and not clean: pCloud's US region has no SHA-256 and refuses download
// links for fresh files (the emulator's FreshLinkFails), so with Read
// every object fails and the scrub is incomplete (exit 1).
func TestUncheckable(t *testing.T) {
	srv, err := pcloudemu.New(pcloudemu.Options{FreshLinkFails: true, FreshWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	root := t.TempDir()
	goodRepo(t, root, "")
	ctx := context.Background()
	src, err := fs.NewFs(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := fs.NewFs(ctx, srv.RcloneRemote()+"repo")
	if err != nil {
		t.Fatal(err)
	}
	if err := rsync.CopyDir(ctx, dst, src, false); err != nil {
		t.Fatalf("copy to the emulator: %v", err)
	}
	rep, err := scrub.Run(ctx, dst, scrub.Options{Read: true})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Outcome != scrub.Incomplete || rep.Outcome.ExitCode() != scrub.ExitFailed || rep.ErrorCount != 5 ||
		len(rep.Errors) != 5 || len(rep.Findings) != 0 || rep.VerifiedRead != 0 {
		t.Errorf("outcome %s, %d errors %v, findings %v, %d verified; want incomplete, 5 errors, none, 0",
			rep.Outcome, rep.ErrorCount, rep.Errors, rep.Findings, rep.VerifiedRead)
	}
}
