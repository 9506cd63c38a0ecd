package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

var steadyrestBin string

func TestMain(m *testing.M) {
	os.Exit(e2e.RunWithBinaries(m, "status-browser", e2e.Binary{Pkg: "./cmd/steadyrest", Dst: &steadyrestBin, Race: true}))
}

// chromiumBin finds chromium: missing fails the test in CI (CI must
// install it: scripts/install-chromium.sh) and skips it elsewhere.
func chromiumBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err == nil {
		return p
	}
	if e2e.InCI() {
		t.Fatal("chromium not found and CI is set: run scripts/install-chromium.sh (scripts/test.sh does)")
	}
	t.Skip("chromium not found; run scripts/install-chromium.sh")
	return ""
}

// chromium runs a headless chromium with a fresh profile and returns its
// standard output. The page's console goes to its log: a policy violation
// fails the test.
func chromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Content Security Policy") {
		t.Errorf("chromium %v: the page broke its own Content-Security-Policy:\n%s", args, stderr.String())
	}
	return string(out)
}

// lagSeen polls the JSON status until the remote's create and delete lag
// were both observed, for a bounded number of tries. A lag is reported
// only once observations bracket it within a second (a look that missed
// the change and one that showed it, under a second apart in age); the
// confirmer narrows it with one early look of each kind at most every
// 10 s, each at a change of that kind: every 3 s without both, more()
// makes restic write and delete again, as its next commands would.
func lagSeen(t *testing.T, statusURL string, more func()) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	var last string
	for i := range 450 {
		if i > 0 && i%15 == 0 {
			more()
		}
		resp, err := client.Get(statusURL + "?format=json")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		last = string(b)
		var s struct {
			Create []json.RawMessage `json:"create_lag"`
			Delete []json.RawMessage `json:"delete_lag"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("status JSON: %v\n%s", err, b)
		}
		if len(s.Create) > 0 && len(s.Delete) > 0 {
			t.Logf("create and delete lag reported after %d rounds of more()", i/15)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no create and delete lag reported after the restic run:\n%s", last)
}

func TestStatusPageInChromium(t *testing.T) {
	browser := chromiumBin(t)
	restic := e2e.DefaultRestic(t)
	dir := t.TempDir()
	remote := testutil.LagSpec(filepath.Join(dir, "remote"), "create_lag=1s", "delete_lag=1s")
	srv := e2e.StartServer(t, e2e.SteadyrestSpec(steadyrestBin, remote, filepath.Join(dir, "state"), "--no-request-log"))

	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(data, fmt.Sprintf("f%d.txt", i)), []byte(strings.Repeat(fmt.Sprint(i), 1000*(i+1))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := e2e.NewRestic(t, restic, srv.URL("hosts/nas"))
	r.MustRun("init")
	r.MustRun("backup", data)
	r.MustRun("backup", data)
	// The forget deletes a snapshot on the remote, whose delete lag the
	// chart draws; restic's locks never reach it (written behind, deleted
	// within --lock-upload-delay), so they show no lag of either kind.
	r.MustRun("forget", "--keep-last", "1")
	r.MustRun("snapshots")

	statusURL := "http://" + srv.Addr + "/status"
	lagSeen(t, statusURL, func() {
		// A new snapshot and the old one forgotten: a create and a
		// delete for the confirmer's probes to measure.
		r.MustRun("backup", data)
		r.MustRun("forget", "--keep-last", "1")
	})
	resp, err := http.Get(statusURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'; style-src 'sha256-") {
		t.Fatalf("the page is served without its policy: %q", csp)
	}

	dom := chromium(t, browser, "--dump-dom", statusURL)
	for _, want := range []string{
		"<h1>steadyrest</h1>", "Repositories are safe", "<td>/hosts/nas</td>", "local journal",
		`id="lag-chart"`, `<polyline class="lag-create" points="`, `<polyline class="lag-delete" points="`,
		`<circle class="lag-create"`,
	} {
		if !strings.Contains(dom, want) {
			t.Fatalf("rendered page lacks %q; rendered DOM:\n%s", want, dom)
		}
	}

	// The chart is drawn: the screenshot holds pixels of the create line's
	// colour (#2b6cb0), which only the chart and its legend use. And the
	// policy let the page's style sheet apply: the verdict's background
	// (#e3f4e1) comes from it alone.
	shot := filepath.Join(t.ArtifactDir(), "status.png")
	chromium(t, browser, "--screenshot="+shot, "--window-size=1000,1150", "--hide-scrollbars", statusURL)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	blue, green := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, 0x2b) && near(g>>8, 0x6c) && near(bl>>8, 0xb0) {
				blue++
			}
			if r>>8 == 0xe3 && g>>8 == 0xf4 && bl>>8 == 0xe1 {
				green++
			}
		}
	}
	if blue < 20 {
		t.Errorf("screenshot %s has %d pixels of the chart's create colour: the chart was not drawn", shot, blue)
	}
	if green < 1000 {
		t.Errorf("screenshot %s has %d pixels of the verdict's background: the page's style sheet was blocked", shot, green)
	}
	t.Logf("screenshot: %s (%d chart pixels, %d verdict pixels)", shot, blue, green)
	if dst := os.Getenv("STATUS_SCREENSHOT"); dst != "" {
		// To refresh the README's picture: STATUS_SCREENSHOT=$PWD/docs/status.png
		b, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(dst, b, 0o644)
		}
		if err != nil {
			t.Errorf("copy screenshot to %s: %v", dst, err)
		}
	}
}

func near(v, want uint32) bool { return v+12 >= want && v <= want+12 }
