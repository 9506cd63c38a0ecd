package shared

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// LaggingPcloud is the remote of issue 12's measurements: pCloud with a
// 3 s lag. New files are missing from listings and lookups by name, and
// deleted ones still listed, for 3 s; deletes of files younger than that
// are refused (pCloud's 2009). No injected errors: a 503 from the remote
// would blur what the tests count (retries caused by the shared store).
func LaggingPcloud() pcloudemu.Options {
	return pcloudemu.Options{
		ListLag:          3 * time.Second,
		FreshDeleteFails: true,
		Latency:          2 * time.Millisecond,
	}
}

// ClusterOptions describe N steadyrest instances in front of one remote
// path, as several hosts' sidecars would be.
type ClusterOptions struct {
	Bin        string // steadyrest binary
	N          int
	Emulator   *e2e.Emulator
	Path       string // folder on the emulator, e.g. "multi"
	Shared     string // --shared URL given to all instances; "" for none
	RequestLog bool   // log every request (for e2e.MergeRequests)
	Extra      []string
}

// Cluster is N running instances, each with its own state folder.
type Cluster struct {
	Opt       ClusterOptions
	Instances []*e2e.Server
	StateDirs []string
}

// StartCluster starts the instances one after the other; the test's
// cleanup stops them (and fails the test if one does not stop cleanly).
func StartCluster(t testing.TB, opt ClusterOptions) *Cluster {
	t.Helper()
	if opt.N < 1 || opt.Emulator == nil || opt.Bin == "" || opt.Path == "" {
		t.Fatalf("StartCluster: incomplete options %+v", opt)
	}
	c := &Cluster{Opt: opt}
	for i := range opt.N {
		state := t.TempDir()
		extra := []string{"--rclone-config", opt.Emulator.Conf}
		if opt.Shared != "" {
			extra = append(extra, "--shared", opt.Shared)
		}
		if !opt.RequestLog {
			extra = append(extra, "--no-request-log")
		}
		spec := e2e.SteadyrestSpec(opt.Bin, e2e.EmulatorRemote+":"+opt.Path, state, append(extra, opt.Extra...)...)
		spec.Name = fmt.Sprintf("steadyrest-%d", i)
		c.Instances = append(c.Instances, e2e.StartServer(t, spec))
		c.StateDirs = append(c.StateDirs, state)
	}
	return c
}

// Base is instance i's base URL for repo: http://host:port/repo.
func (c *Cluster) Base(i int, repo string) string {
	return "http://" + c.Instances[i].Addr + "/" + strings.Trim(repo, "/")
}

// Bases are the base URLs of repo on every instance.
func (c *Cluster) Bases(repo string) []string {
	var out []string
	for i := range c.Instances {
		out = append(out, c.Base(i, repo))
	}
	return out
}

// Repo is the restic repository string of repo through instance i.
func (c *Cluster) Repo(i int, repo string) string { return c.Instances[i].URL(repo) }

// Logs are the instances' logs by name, for e2e.MergeRequests.
func (c *Cluster) Logs() map[string]string {
	out := map[string]string{}
	for _, s := range c.Instances {
		out[s.Spec.Name] = s.Log()
	}
	return out
}

// Balancer starts a per-request round-robin balancer over every instance,
// closed at the test's cleanup (before the instances stop).
func (c *Cluster) Balancer(t testing.TB) *Balancer {
	t.Helper()
	var backends []string
	for _, s := range c.Instances {
		backends = append(backends, "http://"+s.Addr)
	}
	b, err := NewBalancer(t.Logf, backends...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	t.Logf("balancer on %s, round-robin per request over %v", b.URL(), backends)
	return b
}
