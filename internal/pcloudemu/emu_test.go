package pcloudemu_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/pcloud"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/config"
	"github.com/rclone/rclone/fs/config/configfile"
	"github.com/rclone/rclone/fs/hash"
	"github.com/rclone/rclone/fs/object"
	"github.com/rclone/rclone/fs/walk"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

func newServer(t *testing.T, opt pcloudemu.Options) *pcloudemu.Server {
	t.Helper()
	srv, err := pcloudemu.New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// newFs opens rclone's real pcloud backend on the emulator. A short
// low-level retry budget keeps error-injection tests fast.
func newFs(t *testing.T, srv *pcloudemu.Server, root string) (context.Context, fs.Fs) {
	t.Helper()
	return newFsRetries(t, srv, root, 2)
}

func newFsRetries(t *testing.T, srv *pcloudemu.Server, root string, retries int) (context.Context, fs.Fs) {
	t.Helper()
	ctx, ci := fs.AddConfig(context.Background())
	ci.LowLevelRetries = retries
	f, err := fs.NewFs(ctx, srv.RcloneRemote()+root)
	if err != nil {
		t.Fatalf("NewFs: %v", err)
	}
	return ctx, f
}

func put(ctx context.Context, t *testing.T, f fs.Fs, remote string, data []byte) fs.Object {
	t.Helper()
	info := object.NewStaticObjectInfo(remote, time.Unix(1_700_000_000, 0), int64(len(data)), true, nil, f)
	o, err := f.Put(ctx, bytes.NewReader(data), info)
	if err != nil {
		t.Fatalf("Put %s: %v", remote, err)
	}
	return o
}

func names(entries fs.DirEntries) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Remote())
	}
	sort.Strings(out)
	return out
}

func listNames(ctx context.Context, t *testing.T, f fs.Fs, dir string) []string {
	t.Helper()
	entries, err := f.List(ctx, dir)
	if err != nil {
		t.Fatalf("List %q: %v", dir, err)
	}
	return names(entries)
}

func TestRcloneBackendRoundTrip(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{})
	ctx, f := newFs(t, srv, "repo")

	if err := f.Mkdir(ctx, ""); err != nil {
		t.Fatalf("Mkdir root: %v", err)
	}
	if err := f.Mkdir(ctx, "data/00"); err != nil {
		t.Fatalf("Mkdir data/00: %v", err)
	}
	content := []byte(strings.Repeat("0123456789", 1000))
	o := put(ctx, t, f, "data/00/pack", content)
	put(ctx, t, f, "config", []byte("cfg"))
	put(ctx, t, f, "keys/empty", nil) // zero bytes goes as a multipart POST

	if got := listNames(ctx, t, f, ""); strings.Join(got, ",") != "config,data,keys" {
		t.Fatalf("List root = %v", got)
	}
	if got := listNames(ctx, t, f, "data/00"); strings.Join(got, ",") != "data/00/pack" {
		t.Fatalf("List data/00 = %v", got)
	}
	// Recursive listing through ListR (listfolder recursive=1).
	var all []string
	err := walk.ListR(ctx, f, "", true, -1, walk.ListAll, func(entries fs.DirEntries) error {
		all = append(all, names(entries)...)
		return nil
	})
	if err != nil {
		t.Fatalf("ListR: %v", err)
	}
	sort.Strings(all)
	if want := "config,data,data/00,data/00/pack,keys,keys/empty"; strings.Join(all, ",") != want {
		t.Fatalf("ListR = %v, want %s", all, want)
	}

	// NewObject sees the exact size; Open reads whole and ranges.
	no, err := f.NewObject(ctx, "data/00/pack")
	if err != nil {
		t.Fatalf("NewObject: %v", err)
	}
	if no.Size() != int64(len(content)) {
		t.Fatalf("size = %d, want %d", no.Size(), len(content))
	}
	if got := testutil.ReadObject(ctx, t, no); got != string(content) {
		t.Fatalf("full read differs (%d bytes)", len(got))
	}
	if got := testutil.ReadObject(ctx, t, no, &fs.RangeOption{Start: 5, End: 14}); got != "5678901234" {
		t.Fatalf("range read = %q", got)
	}
	if got := testutil.ReadObject(ctx, t, no, &fs.SeekOption{Offset: 9995}); got != "56789" {
		t.Fatalf("seek read = %q", got)
	}
	empty, err := f.NewObject(ctx, "keys/empty")
	if err != nil || empty.Size() != 0 {
		t.Fatalf("NewObject empty: %v size %d", err, empty.Size())
	}
	if got := testutil.ReadObject(ctx, t, empty); len(got) != 0 {
		t.Fatalf("empty read = %q", got)
	}

	// Hashes as checksumfile returns them (from the upload answer, then
	// from checksumfile for an object found by NewObject).
	s1 := sha1.Sum(content)
	m5 := md5.Sum(content)
	for _, obj := range []fs.Object{o, no} {
		if h, err := obj.Hash(ctx, hash.SHA1); err != nil || h != hex.EncodeToString(s1[:]) {
			t.Fatalf("sha1 = %q, %v", h, err)
		}
		if h, err := obj.Hash(ctx, hash.MD5); err != nil || h != hex.EncodeToString(m5[:]) {
			t.Fatalf("md5 = %q, %v", h, err)
		}
	}
	if st := srv.Stats(); st.Calls["checksumfile"] == 0 {
		t.Fatalf("checksumfile never called: %v", st.Calls)
	}

	// Overwrite keeps the file id and changes the content.
	before, _ := srv.Stat("/repo/config")
	put(ctx, t, f, "config", []byte("cfg2"))
	after, ok := srv.Stat("/repo/config")
	if !ok || after.ID != before.ID || after.Size != 4 {
		t.Fatalf("overwrite: before %+v after %+v", before, after)
	}

	// About reports the bytes stored.
	u, err := f.Features().About(ctx)
	if err != nil {
		t.Fatalf("About: %v", err)
	}
	if u.Used == nil || *u.Used != int64(len(content))+4 || u.Total == nil || *u.Total != 10<<30 {
		t.Fatalf("About = used %v total %v", u.Used, u.Total)
	}

	// Rmdir refuses a non-empty folder, Remove and Rmdir then work.
	if err := f.Rmdir(ctx, "data/00"); err == nil {
		t.Fatal("Rmdir of non-empty folder succeeded")
	}
	if err := no.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := f.NewObject(ctx, "data/00/pack"); !errors.Is(err, fs.ErrorObjectNotFound) {
		t.Fatalf("NewObject after Remove: %v", err)
	}
	if _, ok := srv.Stat("/repo/data/00/pack"); ok {
		t.Fatal("file still stored after Remove")
	}
	if err := f.Rmdir(ctx, "data/00"); err != nil {
		t.Fatalf("Rmdir: %v", err)
	}
	if got := listNames(ctx, t, f, "data"); len(got) != 0 {
		t.Fatalf("List data after Rmdir = %v", got)
	}
	if _, err := f.List(ctx, "nope"); !errors.Is(err, fs.ErrorDirNotFound) {
		t.Fatalf("List missing dir: %v", err)
	}
}

func TestServerSideCopyMove(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{})
	ctx, f := newFs(t, srv, "repo")
	src := put(ctx, t, f, "a/src", []byte("hello"))
	c, err := f.Features().Copy(ctx, src, "b/copy")
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if got := testutil.ReadObject(ctx, t, c); got != "hello" {
		t.Fatalf("copy content = %q", got)
	}
	m, err := f.Features().Move(ctx, src, "b/moved")
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	if got := testutil.ReadObject(ctx, t, m); got != "hello" {
		t.Fatalf("moved content = %q", got)
	}
	if _, ok := srv.Stat("/repo/a/src"); ok {
		t.Fatal("move left the source")
	}
	want := time.Unix(1_600_000_000, 0)
	if err := m.SetModTime(ctx, want); err != nil {
		t.Fatalf("SetModTime: %v", err)
	}
	if fi, _ := srv.Stat("/repo/b/moved"); !fi.Modified.Equal(want) {
		t.Fatalf("mtime = %v, want %v", fi.Modified, want)
	}
	if err := f.Features().Purge(ctx, "b"); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if _, ok := srv.Stat("/repo/b/copy"); ok {
		t.Fatal("Purge left a file")
	}
}

func TestListLag(t *testing.T) {
	const lag = 600 * time.Millisecond
	srv := newServer(t, pcloudemu.Options{ListLag: lag})
	ctx, f := newFs(t, srv, "repo")
	if err := f.Mkdir(ctx, "locks"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	start := time.Now()
	o := put(ctx, t, f, "locks/l1", []byte("lock"))

	// Fresh: stored, but missing from listings and from lookups by name
	// (rclone's NewObject lists the folder).
	if _, ok := srv.Stat("/repo/locks/l1"); !ok {
		t.Fatal("upload not stored")
	}
	if got := listNames(ctx, t, f, "locks"); len(got) != 0 {
		t.Fatalf("fresh file listed: %v", got)
	}
	if _, err := f.NewObject(ctx, "locks/l1"); !errors.Is(err, fs.ErrorObjectNotFound) {
		t.Fatalf("NewObject of fresh file: %v, want not found", err)
	}
	// The object returned by Put still reads (getfilelink goes by file id).
	if got := testutil.ReadObject(ctx, t, o); got != "lock" {
		t.Fatalf("read fresh = %q", got)
	}
	time.Sleep(time.Until(start.Add(lag + 50*time.Millisecond)))
	if got := listNames(ctx, t, f, "locks"); strings.Join(got, ",") != "locks/l1" {
		t.Fatalf("after lag, list = %v", got)
	}

	// Deleted: gone from storage at once, still listed for the lag.
	if err := o.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	deleted := time.Now()
	if got := listNames(ctx, t, f, "locks"); strings.Join(got, ",") != "locks/l1" {
		t.Fatalf("deleted file not listed during lag: %v", got)
	}
	ghost, err := f.NewObject(ctx, "locks/l1")
	if err != nil {
		t.Fatalf("NewObject of ghost: %v", err)
	}
	if _, err := ghost.Open(ctx); err == nil || !strings.Contains(err.Error(), "2009") {
		t.Fatalf("Open of ghost: %v, want pcloud 2009", err)
	}
	time.Sleep(time.Until(deleted.Add(lag + 50*time.Millisecond)))
	if got := listNames(ctx, t, f, "locks"); len(got) != 0 {
		t.Fatalf("after lag, deleted file still listed: %v", got)
	}
}

func TestFreshDeleteFails(t *testing.T) {
	const window = 500 * time.Millisecond
	srv := newServer(t, pcloudemu.Options{FreshDeleteFails: true, FreshWindow: window})
	ctx, f := newFs(t, srv, "repo")
	o := put(ctx, t, f, "locks/l1", []byte("lock"))
	start := time.Now() // after the upload, so start+window is past freshness
	err := o.Remove(ctx)
	if err == nil || !strings.Contains(err.Error(), "2009") {
		t.Fatalf("Remove of fresh file: %v, want pcloud 2009", err)
	}
	if _, ok := srv.Stat("/repo/locks/l1"); !ok {
		t.Fatal("refused delete removed the file")
	}
	if st := srv.Stats(); st.FreshDeleteRefusals != 1 {
		t.Fatalf("FreshDeleteRefusals = %d", st.FreshDeleteRefusals)
	}
	time.Sleep(time.Until(start.Add(window + 50*time.Millisecond)))
	if err := o.Remove(ctx); err != nil {
		t.Fatalf("Remove after window: %v", err)
	}
	if _, ok := srv.Stat("/repo/locks/l1"); ok {
		t.Fatal("file still stored")
	}
}

func TestFreshLinkFails(t *testing.T) {
	const window = 500 * time.Millisecond
	srv := newServer(t, pcloudemu.Options{FreshLinkFails: true, FreshWindow: window})
	ctx, f := newFs(t, srv, "repo")
	o := put(ctx, t, f, "index/i1", []byte("idx"))
	start := time.Now()
	if _, err := o.Open(ctx); err == nil || !strings.Contains(err.Error(), "2009") {
		t.Fatalf("Open of fresh file: %v, want pcloud 2009", err)
	}
	time.Sleep(time.Until(start.Add(window + 50*time.Millisecond)))
	if got := testutil.ReadObject(ctx, t, o); got != "idx" {
		t.Fatalf("read after window = %q", got)
	}
	if st := srv.Stats(); st.FreshLinkRefusals != 1 {
		t.Fatalf("FreshLinkRefusals = %d", st.FreshLinkRefusals)
	}
}

func TestErrorRate(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{})
	ctx, f := newFs(t, srv, "repo")
	put(ctx, t, f, "x", []byte("x"))

	srv.SetOptions(pcloudemu.Options{ErrorRate: 1, Seed: 7})
	_, err := f.List(ctx, "")
	if err == nil || !(strings.Contains(err.Error(), "(5000)") || strings.Contains(err.Error(), "(4000)")) {
		t.Fatalf("List at error rate 1: %v", err)
	}
	if st := srv.Stats(); st.InjectedErrors < 2 { // rclone retried
		t.Fatalf("InjectedErrors = %d", st.InjectedErrors)
	}

	// At a partial rate rclone's retries get through, and about the
	// configured share of calls fails (seeded, so the count is stable).
	srv.SetOptions(pcloudemu.Options{ErrorRate: 0.3, Seed: 42})
	ctx, f = newFsRetries(t, srv, "repo", 10)
	base := srv.Stats()
	for range 20 {
		if _, err := f.List(ctx, ""); err != nil {
			t.Fatalf("List at error rate 0.3: %v", err)
		}
	}
	st := srv.Stats()
	calls := st.Calls["listfolder"] - base.Calls["listfolder"]
	injected := st.InjectedErrors - base.InjectedErrors
	if injected == 0 || calls != 20+injected {
		t.Fatalf("calls %d, injected %d", calls, injected)
	}
	if share := float64(injected) / float64(calls); share < 0.1 || share > 0.5 {
		t.Fatalf("injected share %.2f, want about 0.3", share)
	}
}

func TestLatency(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{Latency: 100 * time.Millisecond})
	ctx, f := newFs(t, srv, "")
	start := time.Now()
	if _, err := f.List(ctx, ""); err != nil {
		t.Fatalf("List: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("List took %v, want >= 100ms", d)
	}
}

func TestAuthRequired(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{AccessToken: "right"})
	ctx := context.Background()
	bad := strings.Replace(srv.RcloneRemote(), `"access_token":"right"`, `"access_token":"wrong"`, 1)
	// NewFs lists the root to find the path, so the bad token shows there.
	if _, err := fs.NewFs(ctx, bad+"repo"); err == nil || !strings.Contains(err.Error(), "(2000)") {
		t.Fatalf("NewFs with wrong token: %v, want 2000", err)
	}
	if _, err := fs.NewFs(ctx, srv.RcloneRemote()+"repo"); err != nil {
		t.Fatalf("NewFs with right token: %v", err)
	}
}

func TestWriteRcloneConf(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{})
	path := filepath.Join(t.TempDir(), "rclone.conf")
	if err := os.WriteFile(path, []byte("[other]\ntype = memory\n\n[emu]\ntype = local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.WriteRcloneConf(path, "emu"); err != nil {
		t.Fatalf("WriteRcloneConf: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "[emu]") != 1 || !strings.Contains(string(b), "[other]") || strings.Contains(string(b), "type = local") {
		t.Fatalf("config:\n%s", b)
	}
	// rclone reads it and reaches the emulator through the named remote.
	if err := config.SetConfigPath(path); err != nil {
		t.Fatal(err)
	}
	configfile.Install()
	ctx := context.Background()
	f, err := fs.NewFs(ctx, "emu:repo")
	if err != nil {
		t.Fatalf("NewFs emu:repo: %v", err)
	}
	put(ctx, t, f, "config", []byte("c"))
	if _, ok := srv.Stat("/repo/config"); !ok {
		t.Fatal("upload through named remote not stored")
	}
	if got := listNames(ctx, t, f, ""); strings.Join(got, ",") != "config" {
		t.Fatalf("list via named remote: %v", got)
	}
}

func TestConcurrentClients(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{ListLag: 50 * time.Millisecond})
	ctx, f := newFs(t, srv, "repo")
	if err := f.Mkdir(ctx, "data"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	const workers, each = 4, 10
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				name := "data/" + string(rune('a'+w)) + string(rune('0'+i))
				info := object.NewStaticObjectInfo(name, time.Now(), 3, true, nil, f)
				o, err := f.Put(ctx, bytes.NewReader([]byte(name[5:]+"!")), info)
				if err != nil {
					errs <- err
					return
				}
				if _, err := f.List(ctx, "data"); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if err := o.Remove(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatalf("worker: %v", err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the listing catch up
	if got := listNames(ctx, t, f, "data"); len(got) != workers*each/2 {
		t.Fatalf("listed %d files, want %d: %v", len(got), workers*each/2, got)
	}
}

func TestChangeNotify(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{})
	ctx, f := newFs(t, srv, "repo")
	if err := f.Mkdir(ctx, "dir"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	if _, err := f.List(ctx, "dir"); err != nil { // caches dir's id for path resolution
		t.Fatalf("List: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan string, 16)
	interval := make(chan time.Duration, 1)
	interval <- time.Second
	f.Features().ChangeNotify(ctx, func(p string, _ fs.EntryType) { got <- p }, interval)
	time.Sleep(200 * time.Millisecond) // let the first /diff learn the current id
	put(ctx, t, f, "dir/file", []byte("x"))
	select {
	case p := <-got:
		if p != "dir/file" {
			t.Fatalf("notified %q, want dir/file", p)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no change notification")
	}
	close(interval)
}

// TestSSLCertFileEnv checks the other way to trust the emulator: a process
// (here a child of this test binary) that has SSL_CERT_FILE set and a remote
// without override.ca_cert.
func TestSSLCertFileEnv(t *testing.T) {
	if remote := os.Getenv("PCLOUDEMU_CHILD_REMOTE"); remote != "" {
		f, err := fs.NewFs(context.Background(), remote+"repo")
		if err != nil {
			t.Fatalf("child NewFs: %v", err)
		}
		put(context.Background(), t, f, "viaenv", []byte("ok"))
		return
	}
	srv := newServer(t, pcloudemu.Options{})
	remote := srv.RcloneRemote()
	remote = remote[:strings.Index(remote, ",override.ca_cert=")] + ":"
	cmd := exec.Command(os.Args[0], "-test.run=^TestSSLCertFileEnv$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PCLOUDEMU_CHILD_REMOTE="+remote, "SSL_CERT_FILE="+srv.CAFile())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, ok := srv.Stat("/repo/viaenv"); !ok {
		t.Fatal("child upload not stored")
	}
	// Without either, TLS verification must fail.
	cmd = exec.Command(os.Args[0], "-test.run=^TestSSLCertFileEnv$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PCLOUDEMU_CHILD_REMOTE="+remote, "SSL_CERT_FILE=/nonexistent", "SSL_CERT_DIR=/nonexistent")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "certificate") {
		t.Fatalf("child without CA: err %v\n%s", err, out)
	}
}

// TestRawAPI checks result codes and answers rclone does not surface.
func TestRawAPI(t *testing.T) {
	srv := newServer(t, pcloudemu.Options{})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CACertPEM()) {
		t.Fatal("bad CA PEM")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	call := func(method, path string, body io.Reader) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL()+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+srv.AccessToken())
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
		return m
	}
	wantResult := func(m map[string]any, code float64) {
		t.Helper()
		if m["result"] != code {
			t.Fatalf("result %v (%v), want %v", m["result"], m["error"], code)
		}
	}
	wantResult(call("GET", "/listfolder?folderid=999", nil), 2005)
	wantResult(call("POST", "/deletefile?fileid=12345", nil), 2009)
	wantResult(call("GET", "/listfolder?folderid=0&recursive=1", nil), 1101)
	wantResult(call("POST", "/createfolder?folderid=0&name=a", nil), 0)
	wantResult(call("POST", "/createfolder?folderid=0&name=a", nil), 2004)
	m := call("POST", "/createfolderifnotexists?path=/a", nil)
	if m["created"] != false {
		t.Fatalf("createfolderifnotexists: %v", m)
	}
	up := call("PUT", "/uploadfile?path=/a&filename=f.txt&nopartial=1&mtime=1700000000", strings.NewReader("hello world"))
	wantResult(up, 0)
	md := up["metadata"].([]any)[0].(map[string]any)
	if md["size"] != 11.0 || md["modified"] != "Tue, 14 Nov 2023 22:13:20 +0000" || md["id"] != "f"+jsonNumber(md["fileid"]) {
		t.Fatalf("upload metadata: %v", md)
	}
	sum := call("GET", "/checksumfile?path=/a/f.txt", nil)
	if sum["sha1"] != "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed" || sum["md5"] != "5eb63bbbe01eeed093cb22bb8f5acdc3" {
		t.Fatalf("checksumfile: %v", sum)
	}
	wantResult(call("POST", "/deletefolder?path=/a", nil), 2006)
	link := call("GET", "/getfilelink?path=/a/f.txt", nil)
	req, _ := http.NewRequest("GET", "https://"+link["hosts"].([]any)[0].(string)+link["path"].(string), nil)
	req.Header.Set("Range", "bytes=6-")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != "world" {
		t.Fatalf("ranged download: %d %q", resp.StatusCode, b)
	}
	noAuth, err := client.Get(srv.URL() + "/userinfo")
	if err != nil {
		t.Fatal(err)
	}
	var na map[string]any
	_ = json.NewDecoder(noAuth.Body).Decode(&na)
	_ = noAuth.Body.Close()
	wantResult(na, 1000)
}

func jsonNumber(v any) string {
	f, _ := v.(float64)
	return strconv.FormatInt(int64(f), 10)
}
