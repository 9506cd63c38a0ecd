package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/pcloud"
	rfs "github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/internal/lagfs"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
	"github.com/steadyrest/steadyrest/internal/testutil"
	"github.com/steadyrest/steadyrest/overlay"
)

// fastOpt keeps a run short: few rounds, a small "large" object, and
// timeouts far above the lags used here so that none is hit.
func fastOpt(rounds int) Options {
	return Options{Rounds: rounds, LargeSize: 64 << 10, Timeout: 20 * time.Second, CleanupTimeout: 20 * time.Second}
}

// seed puts files the probe must not touch into dir and returns a
// snapshot of the tree.
func seed(t *testing.T, dir string) map[string]string {
	t.Helper()
	for name, body := range map[string]string{"keep.txt": "mine", "repo/config": "cfg", DirPrefix + "other/x": "someone else's"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return snapshot(t, dir)
}

// snapshot maps every file and folder below dir to its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := snapshot(t, dir)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s changed: got %q (present %v), want %q", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("probe left %s behind", k)
		}
	}
}

func newFs(t *testing.T, remote string) rfs.Fs {
	t.Helper()
	f, err := rfs.NewFs(context.Background(), remote)
	if err != nil {
		t.Fatalf("open %s: %v", remote, err)
	}
	return f
}

// between checks a measured lag against the configured one: at least the
// lag less the upload's own time, at most the lag plus the longest poll
// interval and a loaded machine's slack.
func between(t *testing.T, what string, got Seconds, lag time.Duration) {
	t.Helper()
	d := time.Duration(got)
	if d < lag-200*time.Millisecond || d > lag+2*time.Second {
		t.Errorf("%s median %s, configured lag %s", what, got, lag)
	}
}

// seededLag seeds a folder and opens it through the lag backend with
// opts; it returns the folder, its snapshot and the Fs.
func seededLag(t *testing.T, opts string) (string, map[string]string, rfs.Fs) {
	t.Helper()
	dir := t.TempDir()
	before := seed(t, dir)
	return dir, before, newFs(t, testutil.LagSpec(dir, opts))
}

func TestLagBackendMeasuresConfiguredLag(t *testing.T) {
	const lag = time.Second
	dir, before, f := seededLag(t, "create_lag=1s,delete_lag=1s")
	rep, err := Run(context.Background(), f, fastOpt(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []Kind{CreateListed, CreateLookup, CreateReadable, DeleteUnlisted} {
		l := rep.Lags[k]
		if l.N != 3 || l.Timeouts != 0 { // 2 small objects and the large one
			t.Errorf("%s: %d samples, %d timeouts; want 3, 0", k, l.N, l.Timeouts)
		}
		between(t, string(k), l.Median, lag)
	}
	// The lag backend forgets a deleted object by name at once; only the
	// listing keeps it.
	if l := rep.Lags[DeleteLookup]; l.Immediate != l.N {
		t.Errorf("delete lookup: %d of %d immediate, want all", l.Immediate, l.N)
	}
	if rep.Fresh.Tried != 2 || rep.Fresh.Refused != 2 {
		t.Errorf("fresh deletes: %+v, want 2 tried and refused (create lag answers not found)", rep.Fresh)
	}
	between(t, "fresh delete accepted", rep.Lags[FreshDeleteAccepted].Median, lag)
	rec := rep.Recommendation
	if !rec.NeedsSteadyrest || time.Duration(rec.SettleWindow) < overlay.DefaultSettleWindow || time.Duration(rec.SettleWindow) < 4*time.Duration(rec.WorstLag) {
		t.Errorf("recommendation %+v", rec)
	}
	sameTree(t, dir, before)
}

func TestPcloudEmulatorFreshDeleteRefused(t *testing.T) {
	srv, err := pcloudemu.New(pcloudemu.Options{ListLag: time.Second, FreshDeleteFails: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	f := newFs(t, srv.RcloneRemote()+"backups")
	opt := fastOpt(1)
	opt.Name = "mypcloud:backups" // as typed; rclone's own name is a connection string
	rep, err := Run(context.Background(), f, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Remote != opt.Name {
		t.Errorf("report names the remote %q, want %q as typed", rep.Remote, opt.Name)
	}
	if rep.Fresh.Tried != 1 || rep.Fresh.Refused != 1 || rep.Fresh.LastRefusal == "" {
		t.Errorf("fresh deletes %+v: want the one tried refused, with the remote's answer", rep.Fresh)
	}
	if l := rep.Lags[FreshDeleteAccepted]; l.N != 1 {
		t.Errorf("fresh delete accepted: %d samples, want 1", l.N)
	}
	between(t, "create listed", rep.Lags[CreateListed].Median, time.Second)
	between(t, "delete unlisted", rep.Lags[DeleteUnlisted].Median, time.Second)
	if !rep.Recommendation.NeedsSteadyrest {
		t.Errorf("recommendation %+v: want steadyrest", rep.Recommendation)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "fresh delete: refused      1 of 1 refused") || !strings.Contains(text.String(), "--settle-window 10m") {
		t.Errorf("text report lacks the refusal or the window:\n%s", text.String())
	}
	t.Logf("report:\n%s", text.String())
	// Nothing left: the emulator's ground truth, lag ignored.
	entries, err := f.List(context.Background(), "")
	if err != nil && !errors.Is(err, rfs.ErrorDirNotFound) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Remote(), DirPrefix) {
			t.Errorf("probe folder %s left behind", e.Remote())
		}
	}
}

func TestLocalFolderNeedsNoSteadyrest(t *testing.T) {
	dir := t.TempDir()
	before := seed(t, dir)
	rep, err := Run(context.Background(), newFs(t, dir), fastOpt(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.LagList {
		if l.Immediate != l.N || l.Timeouts != 0 {
			t.Errorf("%s: %d of %d immediate, %d timeouts", l.Kind, l.Immediate, l.N, l.Timeouts)
		}
	}
	if rep.Lags[CreateListed].N != 3 || rep.Fresh.Tried != 2 || rep.Fresh.Refused != 0 {
		t.Errorf("samples %d, fresh %+v", rep.Lags[CreateListed].N, rep.Fresh)
	}
	rec := rep.Recommendation
	if rec.NeedsSteadyrest || rec.SettleWindow != 0 || !strings.Contains(rec.Text, "steadyrest is not needed") {
		t.Errorf("recommendation %+v", rec)
	}
	b, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Lags []struct {
			Kind   string  `json:"kind"`
			N      int     `json:"n"`
			Median float64 `json:"median_s"`
		} `json:"lags"`
		Recommendation struct {
			NeedsSteadyrest bool `json:"needs_steadyrest"`
		} `json:"recommendation"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, b)
	}
	if len(back.Lags) != len(Kinds) || back.Lags[0].Kind != string(CreateListed) || back.Lags[0].N != 3 || back.Recommendation.NeedsSteadyrest {
		t.Errorf("JSON report:\n%s", b)
	}
	sameTree(t, dir, before)
}

func TestInterruptCleansUp(t *testing.T) {
	dir, before, f := seededLag(t, "create_lag=1s,delete_lag=1s")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := fastOpt(5)
	// Interrupt while the first object is uploaded and still hidden: the
	// clean-up must then wait out the create lag to remove it.
	lf, ok := lagfs.FromFs(f)
	if !ok {
		t.Fatal("not a lag Fs")
	}
	opt.Progress = func(line string) {
		if line == "round 1/5" {
			go func() {
				for range 200 {
					if lf.Stats().Put > 0 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				cancel()
			}()
		}
	}
	rep, err := Run(ctx, f, opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if rep == nil || !rep.Interrupted || rep.Writes == 0 {
		t.Fatalf("report %+v: want an interrupted one after a write", rep)
	}
	if strings.Contains(rep.Recommendation.Text, "not needed") {
		t.Errorf("an interrupted run concluded %q", rep.Recommendation.Text)
	}
	sameTree(t, dir, before)
}

func TestUnwritableRemote(t *testing.T) {
	dir, before, f := seededLag(t, "deny_ops=put")
	rep, err := Run(context.Background(), f, fastOpt(1))
	if !errors.Is(err, ErrNotWritable) || !errors.Is(err, os.ErrPermission) || rep != nil {
		t.Fatalf("report %v, err %v: want no report and ErrNotWritable wrapping the denial", rep, err)
	}
	if !strings.Contains(err.Error(), "cannot write to the remote") {
		t.Errorf("error %q does not say the remote is not writable", err)
	}
	sameTree(t, dir, before)
}

func TestRefusesNamesOutsideItsFolder(t *testing.T) {
	p := &prober{dir: DirPrefix + "abc"}
	for _, name := range []string{"", ".", "..", "../keep.txt", "a/b", `a\b`} {
		if r, err := p.remote(name); err == nil {
			t.Errorf("remote(%q) = %q, want a refusal", name, r)
		}
	}
	if r, err := p.remote("r00-small"); err != nil || r != DirPrefix+"abc/r00-small" {
		t.Errorf("remote(r00-small) = %q, %v", r, err)
	}
	for remote, want := range map[string]bool{
		DirPrefix + "abc/x": true, DirPrefix + "abcd/x": false, "keep.txt": false,
		DirPrefix + "abc/sub/x": false, DirPrefix + "abc": false,
	} {
		if got := p.inside(remote); got != want {
			t.Errorf("inside(%q) = %v, want %v", remote, got, want)
		}
	}
	if _, err := (&prober{}).remote("x"); err == nil {
		t.Error("a prober without a folder accepted a name")
	}
}

func TestHistogramAndQuantiles(t *testing.T) {
	s := []time.Duration{3 * time.Second, time.Second, 2 * time.Second, 1500 * time.Millisecond, 1200 * time.Millisecond}
	d := newDist(s)
	if d.N != 5 || time.Duration(d.Median) != 1500*time.Millisecond || time.Duration(d.P90) != 3*time.Second || time.Duration(d.Max) != 3*time.Second {
		t.Errorf("dist %+v", d)
	}
	var b strings.Builder
	histogram(&b, s)
	want := "    500ms - 1.00s | ##########                     1\n" +
		"    1.00s - 2.00s | ############################## 3\n" +
		"    2.00s - 5.00s | ##########                     1\n"
	if b.String() != want {
		t.Errorf("histogram:\n%s\nwant:\n%s", b.String(), want)
	}
	if w := recommend(90*time.Second, true, 0, time.Minute, 3, time.Minute).SettleWindow; time.Duration(w) != 6*time.Minute {
		t.Errorf("window for a 90s lag with a 1m floor: %s, want 6m", w)
	}
	// A 3 s lag would be 12 s: never below the floor, steadyrest's default.
	if w := recommend(3*time.Second, true, 0, time.Minute, 3, 10*time.Minute).SettleWindow; time.Duration(w) != 10*time.Minute {
		t.Errorf("window for a 3s lag with the default floor: %s, want 10m", w)
	}
	if w := recommend(4*time.Minute, true, 0, 5*time.Minute, 3, 10*time.Minute).SettleWindow; time.Duration(w) != 16*time.Minute {
		t.Errorf("window for a 4m lag: %s, want 16m", w)
	}
}
