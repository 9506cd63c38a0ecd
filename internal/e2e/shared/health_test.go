package shared

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/redistest"
)

// gauge reads one repository health gauge of repo from instance srv's
// /metrics; ok is false when the series is absent.
func gauge(t *testing.T, srv *e2e.Server, name, repo string) (v float64, ok bool) {
	t.Helper()
	code, body := httpGet("http://" + srv.Addr + "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics of %s: %d %s", srv.Spec.Name, code, body)
	}
	re := regexp.MustCompile(`(?m)^` + name + `\{repo="` + regexp.QuoteMeta(repo) + `"\} (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v, true
}

// TestHealthAcrossSharedOverlay: two instances share one overlay on a
// lagging pCloud. A snapshot written through A shows in B's last-snapshot
// metric once B lists snapshots/ (restic does at every command), though
// the remote does not list it yet: B learns it from the shared overlay.
func TestHealthAcrossSharedOverlay(t *testing.T) {
	t.Parallel() // see TestSharedOverlay
	restic := e2e.DefaultRestic(t)
	emu := e2e.StartEmulator(t, LaggingPcloud())
	rds := redistest.Start(t, redistest.Options{})
	cl := StartCluster(t, ClusterOptions{Bin: steadyrestBin, N: 2, Emulator: emu, Path: "health", Shared: rds.URL()})
	a, b := cl.Instances[0], cl.Instances[1]
	const name = "steadyrest_repository_last_snapshot_timestamp_seconds"

	ra := e2e.NewRestic(t, restic, cl.Repo(0, "h"))
	rb := e2e.NewRestic(t, restic, cl.Repo(1, "h"))
	rb.Password = ra.Password
	src := t.TempDir()
	e2e.GenerateTree(t, src, e2e.TreeOptions{Seed: 9, Dirs: 1, FilesPerDir: 5})
	ra.MustRun("init")
	rb.MustRun("snapshots") // B's first listing: none yet
	if _, ok := gauge(t, b, name, "/h"); ok {
		t.Fatal("B shows a last snapshot before any was written")
	}

	ra.MustRunIn(src, "backup", "--host", "e2e", ".")
	atA, ok := gauge(t, a, name, "/h")
	if !ok {
		t.Fatal("A shows no last snapshot after a backup through it")
	}
	if _, ok := gauge(t, b, name, "/h"); ok {
		t.Fatal("B shows the snapshot before it listed snapshots/")
	}
	rb.MustRun("snapshots")
	atB, ok := gauge(t, b, name, "/h")
	if !ok || atB < atA {
		t.Fatalf("after B listed snapshots/: B's last snapshot %v (present %v), A's %v", atB, ok, atA)
	}
	if n, _ := gauge(t, b, "steadyrest_repository_snapshots", "/h"); n != 1 {
		t.Fatalf("B counts %v snapshots, want 1", n)
	}
	t.Logf("snapshot written through A at %.3f, seen by B at its listing %.3f", atA, atB)
}
