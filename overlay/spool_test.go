package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/lagfs"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// spoolOpts: objects above 64 KiB skip the content cache and go to a spool
// of max bytes in a fresh state folder.
func spoolOpts(t *testing.T, max int64) Options {
	return Options{StateDir: t.TempDir(), ContentMaxObject: 64 << 10, SpoolBytes: max}
}

// pack is a data object of n bytes named by its SHA-256.
func pack(seed byte, n int) (Handle, []byte) {
	data := bytes.Repeat([]byte{seed, seed + 1, seed + 2}, n/3+1)[:n]
	sum := sha256.Sum256(data)
	return Handle{Repo: "repo", Type: Data, Name: hex.EncodeToString(sum[:])}, data
}

func putPack(t *testing.T, s *Store, h Handle, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	if err := s.Put(context.Background(), h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum[:]}); err != nil {
		t.Fatalf("Put(%s): %v", h, err)
	}
}

func readRange(t *testing.T, s *Store, h Handle, offset, length int64) []byte {
	t.Helper()
	o, err := s.Lookup(context.Background(), h)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", h, err)
	}
	rc, err := o.Open(context.Background(), offset, length)
	if err != nil {
		t.Fatalf("Open(%s): %v", h, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", h, err)
	}
	return b
}

// A remote that serves no read at all (every Open denied) still lets the
// packs just uploaded be read, whole and in ranges, from the spool.
func TestSpoolServesFreshPacks(t *testing.T) {
	f, _ := testutil.LagRemote(t, `deny_ops="get"`)
	s := newStore(t, f, spoolOpts(t, 8<<20))
	a, da := pack(1, 1<<20)
	b, db := pack(7, 300<<10)
	putPack(t, s, a, da)
	putPack(t, s, b, db)
	f.(*lagfs.Fs).ResetStats()
	if got := readRange(t, s, a, 0, -1); !bytes.Equal(got, da) {
		t.Fatalf("whole read of a spooled pack: %d bytes, want %d equal ones", len(got), len(da))
	}
	if got := readRange(t, s, b, 1000, 5000); !bytes.Equal(got, db[1000:6000]) {
		t.Fatal("ranged read of a spooled pack differs")
	}
	if st := f.(*lagfs.Fs).Stats(); st.Open != 0 || st.Denied != 0 {
		t.Fatalf("reads of spooled packs reached the remote: %+v", st)
	}
	st := s.Stats()
	if st.Events[EventSpoolRead] != 2 || st.SpoolBytes != int64(len(da)+len(db)) {
		t.Fatalf("spool_read %d (want 2), spool bytes %d (want %d)", st.Events[EventSpoolRead], st.SpoolBytes, len(da)+len(db))
	}
}

// The spool never holds more than its bound: the oldest entries make room,
// and their reads go to the remote again.
func TestSpoolStaysWithinBound(t *testing.T) {
	f, _ := testutil.LagRemote(t)
	opt := spoolOpts(t, 2500<<10)
	s := newStore(t, f, opt)
	var hs []Handle
	var ds [][]byte
	for i := range 4 {
		h, d := pack(byte(10*i+1), 1<<20)
		putPack(t, s, h, d)
		hs, ds = append(hs, h), append(ds, d)
		if got := s.Stats().SpoolBytes; got > opt.SpoolBytes {
			t.Fatalf("after %d uploads the spool holds %d bytes, bound %d", i+1, got, opt.SpoolBytes)
		}
		if n := dirBytes(t, filepath.Join(opt.StateDir, spoolDirName)); n > opt.SpoolBytes {
			t.Fatalf("after %d uploads the spool's folder holds %d bytes, bound %d", i+1, n, opt.SpoolBytes)
		}
	}
	if got := s.Stats().SpoolBytes; got != 2<<20 {
		t.Fatalf("spool holds %d bytes, want the last two packs (%d)", got, 2<<20)
	}
	f.(*lagfs.Fs).ResetStats()
	for i, h := range hs {
		if got := readRange(t, s, h, 0, -1); !bytes.Equal(got, ds[i]) {
			t.Fatalf("pack %d reads back wrong", i)
		}
	}
	if st := f.(*lagfs.Fs).Stats(); st.Open != 2 {
		t.Fatalf("remote reads %d, want 2 (the two packs evicted from the spool)", st.Open)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, p := range testutil.FilesBelow(t, dir) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// What a previous run left in the spool is gone at start, and Close
// empties it.
func TestSpoolEmptiedAtStartAndClose(t *testing.T) {
	f, _ := testutil.LagRemote(t)
	opt := spoolOpts(t, 8<<20)
	dir := filepath.Join(opt.StateDir, spoolDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "7.part"), []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	if files := testutil.FilesBelow(t, dir); len(files) != 0 {
		t.Fatalf("spool after start holds %v", files)
	}
	h, d := pack(3, 200<<10)
	putPack(t, s, h, d)
	if files := testutil.FilesBelow(t, dir); len(files) != 1 {
		t.Fatalf("spool after an upload holds %v, want one file", files)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("spool folder after Close: %v", err)
	}
}

// A spool the disk refuses steps aside: the upload succeeds through the
// remote, is counted as not spooled, and reads come from the remote.
func TestSpoolStepsAsideWhenTheDiskRefuses(t *testing.T) {
	f, root := testutil.LagRemote(t)
	opt := spoolOpts(t, 8<<20)
	s := newStore(t, f, opt)
	dir := filepath.Join(opt.StateDir, spoolDirName)
	// A file where the spool's folder was: every file it opens fails.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h, d := pack(5, 200<<10)
	putPack(t, s, h, d)
	if files := testutil.FilesBelow(t, root); len(files) != 1 {
		t.Fatalf("remote holds %v, want the pack", files)
	}
	if got := readRange(t, s, h, 0, -1); !bytes.Equal(got, d) {
		t.Fatal("pack reads back wrong")
	}
	st := s.Stats()
	if st.Events[EventSpoolSkipped] != 1 || st.Events[EventSpoolRead] != 0 || st.SpoolBytes != 0 {
		t.Fatalf("spool_skipped %d (want 1), spool_read %d (want 0), spool bytes %d", st.Events[EventSpoolSkipped], st.Events[EventSpoolRead], st.SpoolBytes)
	}
}

// A write that fails midway (a full disk: /dev/full answers ENOSPC) ends
// that upload's spooling and gives its room back; nothing is kept.
func TestSpoolWriteFailureReleasesRoom(t *testing.T) {
	sp := openSpool(filepath.Join(t.TempDir(), "spool"), 1<<20, time.Minute, slog.New(slog.DiscardHandler))
	w := sp.begin("repo/data/ab/ab", 1000)
	if w == nil {
		t.Fatal("begin refused an upload that fits")
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("no /dev/full: %v", err)
	}
	w.f.Close()
	w.f = full
	if n, err := w.Write(make([]byte, 1000)); n != 1000 || err != nil {
		t.Fatalf("Write = %d, %v: a spool failure must not fail the upload", n, err)
	}
	if w.commit() {
		t.Fatal("an upload whose spooling failed was committed")
	}
	if sp.reserved != 0 || sp.bytes != 0 || len(sp.entries) != 0 {
		t.Fatalf("after the failure: reserved %d, bytes %d, entries %d", sp.reserved, sp.bytes, len(sp.entries))
	}
	if files := testutil.FilesBelow(t, sp.dir); len(files) != 0 {
		t.Fatalf("spool holds %v after a failed write", files)
	}
	if _, ok := sp.open("repo/data/ab/ab", 1000, 0, 1000); ok {
		t.Fatal("a failed upload is served")
	}
}

// A delete drops the spooled bytes: the object reads as gone.
func TestSpoolDeleteDropsEntry(t *testing.T) {
	f, _ := testutil.LagRemote(t)
	s := newStore(t, f, spoolOpts(t, 8<<20))
	h, d := pack(9, 200<<10)
	putPack(t, s, h, d)
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().SpoolBytes; got != 0 {
		t.Fatalf("spool holds %d bytes after the delete", got)
	}
	if _, ok := s.spool.open(h.remotePath(), int64(len(d)), 0, 1); ok {
		t.Fatal("the spool still serves a deleted object")
	}
}

// rclone's local backend serves a new file at once: no spool there.
func TestNoSpoolOnALocalFolder(t *testing.T) {
	s := newStore(t, localRemote(t, t.TempDir()), spoolOpts(t, 8<<20))
	if s.spool != nil {
		t.Fatal("a spool over a local folder")
	}
	h, d := pack(2, 200<<10)
	putPack(t, s, h, d)
	if got := readRange(t, s, h, 0, -1); !bytes.Equal(got, d) {
		t.Fatal("pack reads back wrong")
	}
	if ev := s.Stats().Events; ev[EventSpoolSkipped] != 0 || ev[EventSpoolRead] != 0 {
		t.Fatalf("spool events without a spool: %v", ev)
	}
}
