package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// resticBinary finds restic: $RESTIC, then PATH. Without it the test is
// skipped locally and fails under CI.
func resticBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RESTIC"); p != "" {
		return p
	}
	if p, err := exec.LookPath("restic"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("restic not found (set RESTIC or put restic on PATH)")
	}
	t.Skip("restic not found; set RESTIC to run this test")
	return ""
}

// TestResticRoundTrip drives the real restic binary through the proxy on a
// local remote, in a repository one folder deep with authentication and
// private repositories on: init, backup, snapshots, check --read-data,
// restore, forget --prune.
func TestResticRoundTrip(t *testing.T) {
	restic := resticBinary(t)
	auth := writeHtpasswd(t, bcryptLine(t, "alice", "s3cret", "$2y$"))
	e := newEnv(t, "local", Options{Auth: auth, PrivateRepos: true})

	src := t.TempDir()
	files := map[string][]byte{
		"small.txt":  []byte("hello steadyrest\n"),
		"sub/big":    bytes.Repeat([]byte("0123456789abcdef"), 256*1024), // 4 MiB
		"sub/empty":  {},
		"sub/random": []byte(strings.Repeat("x", 12345)),
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	repo := "rest:" + strings.Replace(e.srv.URL, "http://", "http://alice:s3cret@", 1) + "/alice/laptop/"
	env := append(os.Environ(),
		"RESTIC_REPOSITORY="+repo,
		"RESTIC_PASSWORD=repo-password",
		"RESTIC_CACHE_DIR="+t.TempDir(),
		"RESTIC_PROGRESS_FPS=0",
	)
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, restic, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("restic %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
		}
		return out
	}

	start := time.Now()
	run("init")
	run("backup", "--no-scan", src)
	run("backup", "--no-scan", src) // a second snapshot, all deduplicated
	var snaps []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(run("snapshots", "--json"), &snaps); err != nil {
		t.Fatalf("snapshots --json: %v", err)
	}
	if len(snaps) != 2 {
		t.Fatalf("restic lists %d snapshots, want 2", len(snaps))
	}
	run("check", "--read-data")

	dst := t.TempDir()
	run("restore", "latest", "--target", dst)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dst, src, name))
		if err != nil {
			t.Fatalf("restored %s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("restored %s differs (%d bytes, want %d)", name, len(got), len(want))
		}
	}
	run("forget", "--keep-last", "1", "--prune")
	if err := json.Unmarshal(run("snapshots", "--json"), &snaps); err != nil {
		t.Fatalf("snapshots --json: %v", err)
	}
	if len(snaps) != 1 {
		t.Fatalf("after forget restic lists %d snapshots, want 1", len(snaps))
	}
	run("check")

	// No locks left behind, and every request was authenticated as alice.
	if r := doReq(t, e.srv.URL, "GET", "/alice/laptop/locks/", nil, "alice", "s3cret"); r.status != 200 || string(r.body) != "[]" {
		t.Errorf("locks after restic finished: %d %q, want 200 []", r.status, r.body)
	}
	var bad int
	for _, ri := range e.infos.All() {
		if ri.User != "alice" || ri.Repo != "alice/laptop" {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d requests were not alice's on alice/laptop", bad)
	}
	t.Logf("restic round trip: %d requests in %v", len(e.infos.All()), time.Since(start).Round(time.Millisecond))
}
