package consistency

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// peerPeriod is the heartbeat period of the detection tests: short, so
// that "within one period" is quick to check.
const peerPeriod = time.Second

// peerSlack is what a detection may take beyond one period on a loaded
// machine running race-built binaries (process scheduling, not remote
// lag: the remote is a local folder).
const peerSlack = 3 * time.Second

const peerError = `level=ERROR msg="another steadyrest instance serves this remote path without a shared overlay`

// startPeers runs two steadyrest instances on one remote path, each with
// its own state folder, heartbeats every peerPeriod, and extraA/extraB
// appended to their flags. It is the hook for the shared-overlay case:
// the same --shared in both extras must give no warning.
func startPeers(t *testing.T, remote string, extraA, extraB []string) (a, b *e2e.Server) {
	t.Helper()
	hb := []string{"--heartbeat-interval", peerPeriod.String()}
	a = startSteadyrest(t, remote, append(hb, extraA...)...)
	b = startSteadyrest(t, remote, append(hb, extraB...)...)
	return a, b
}

// httpGet answers GET path on s: status and body.
func httpGet(t *testing.T, s *e2e.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

var peerGaugeRE = regexp.MustCompile(`(?m)^steadyrest_peer_instances ([0-9.e+]+)$`)

// peerGauge reads steadyrest_peer_instances from s's /metrics.
func peerGauge(t *testing.T, s *e2e.Server) int {
	t.Helper()
	code, body := httpGet(t, s, "/metrics")
	m := peerGaugeRE.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("/metrics: %d, no steadyrest_peer_instances", code)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return int(v)
}

// thisInstance is the instance id s logs as its own in the peer error.
var thisInstanceRE = regexp.MustCompile(`this_instance="[^"(]*\(instance ([0-9a-f]{16})\)"`)

// Two default-mode instances on one remote path (the deployment of issue
// 12 without --shared): each logs the error naming the other within one
// heartbeat period, /readyz stays 200 but says so, /metrics and /status
// count 1. When one stops, the other's count drops to 0 within a period,
// and nothing of either stays in the heartbeat folder.
func TestSecondInstanceDetected(t *testing.T) {
	remote := t.TempDir()
	a, b := startPeers(t, remote, nil, nil)

	took := testutil.Eventually(t, "both instances log the peer error", peerPeriod+peerSlack, func() bool {
		return strings.Contains(a.Log(), peerError) && strings.Contains(b.Log(), peerError)
	})
	t.Logf("both warned %v after the second announced its address (period %v)", took.Round(time.Millisecond), peerPeriod)
	idOf := func(s *e2e.Server) string {
		m := thisInstanceRE.FindStringSubmatch(s.Log())
		if m == nil {
			t.Fatalf("%s's peer error names no instance of its own:\n%s", s.Spec.Name, s.Log())
		}
		return m[1]
	}
	idA, idB := idOf(a), idOf(b)
	for _, c := range []struct {
		s     *e2e.Server
		other string
	}{{a, idB}, {b, idA}} {
		var line string
		for _, l := range strings.Split(c.s.Log(), "\n") {
			if strings.Contains(l, peerError) {
				line = l
				break
			}
		}
		if !strings.Contains(line, "(instance "+c.other+")") || !strings.Contains(line, "--shared") || !strings.Contains(line, "peer_instances=1") {
			t.Errorf("peer error does not name the other instance %s and the remedy:\n%s", c.other, line)
		}
		code, body := httpGet(t, c.s, "/readyz")
		if code != http.StatusOK || !strings.HasPrefix(body, "ready (warning: 1 other steadyrest instance serves this remote path without a shared overlay") {
			t.Errorf("/readyz: %d %q, want 200 with the warning", code, body)
		}
		if n := peerGauge(t, c.s); n != 1 {
			t.Errorf("steadyrest_peer_instances = %d, want 1", n)
		}
		_, js := httpGet(t, c.s, "/status?format=json")
		var st struct {
			Peers int  `json:"peers"`
			Safe  bool `json:"safe"`
		}
		if err := json.Unmarshal([]byte(js), &st); err != nil || st.Peers != 1 || st.Safe {
			t.Errorf("/status: %+v (%v), want 1 peer and not safe", st, err)
		}
	}
	if got := heartbeats(t, remote); len(got) != 2 {
		t.Errorf("heartbeat folder holds %q, want 2 objects", got)
	}

	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := heartbeats(t, remote); len(got) != 1 || !strings.HasPrefix(got[0], idA+"_") {
		t.Errorf("after the second stopped, the heartbeat folder holds %q, want only %s's", got, idA)
	}
	testutil.Eventually(t, "the first instance stops counting the second", peerPeriod+peerSlack, func() bool { return peerGauge(t, a) == 0 })
	if code, body := httpGet(t, a, "/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz alone again: %d %q", code, body)
	}
	if !strings.Contains(a.Log(), `msg="heartbeat: no other steadyrest instance without a shared overlay is seen on this remote path any more"`) {
		t.Error("the first instance did not log that the second is gone")
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := heartbeats(t, remote); len(got) != 0 {
		t.Errorf("after both stopped, the heartbeat folder holds %q", got)
	}
	if n := strings.Count(a.Log(), peerError); n > 2 {
		// One at first sight; a reminder only after 10 periods.
		t.Errorf("the first instance logged the peer error %d times in a few periods:\n%s", n, a.Log())
	}
}

// heartbeats lists the heartbeat folder below a local remote.
func heartbeats(t *testing.T, remote string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(remote, ".steadyrest", "instances"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// Two instances on one remote path with the same --shared share their
// records: they see each other's heartbeats but do not warn, for several
// periods; /readyz is plainly ready and the gauge stays 0.
func TestSecondInstanceWithSharedOverlayIsQuiet(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	remote := t.TempDir()
	shared := []string{"--shared", srv.URL()}
	a, b := startPeers(t, remote, shared, shared)
	testutil.Eventually(t, "both heartbeats on the remote", peerPeriod+peerSlack, func() bool { return len(heartbeats(t, remote)) == 2 })
	time.Sleep(3 * peerPeriod) // rounds that have seen each other
	for _, s := range []*e2e.Server{a, b} {
		if strings.Contains(s.Log(), peerError) {
			t.Errorf("%s warned about an instance sharing its overlay:\n%s", s.Spec.Name, s.Log())
		}
		if n := peerGauge(t, s); n != 0 {
			t.Errorf("steadyrest_peer_instances = %d, want 0", n)
		}
		if code, body := httpGet(t, s, "/readyz"); code != http.StatusOK || body != "ready\n" {
			t.Errorf("/readyz: %d %q, want plain ready", code, body)
		}
	}
}
