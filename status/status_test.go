package status

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/metrics"
)

// fixture is a recorder with a settable clock and some history: two
// repositories, lag samples in two minutes, a remote error, a failed reap
// and a retirement by timeout.
func fixture(t *testing.T) (*Recorder, *time.Time) {
	t.Helper()
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	rec := NewRecorder(admitAll)
	rec.now = func() time.Time { return now }

	now = now.Add(-2*time.Hour - 20*time.Minute) // outside the hour: must not count
	rec.Request("hosts/a", 200, true)
	rec.Visible("create", 30*time.Second)
	now = now.Add(2 * time.Hour) // 03:40, the same ring slot
	rec.Visible("create", 3*time.Second)
	rec.Visible("create", time.Second)
	rec.Visible("delete", 2*time.Second)
	rec.Request("hosts/a", 200, true)
	rec.Request("hosts/a", 503, true)
	now = now.Add(15 * time.Minute)
	rec.Visible("create", 4*time.Second)
	rec.Request("", 200, true)
	rec.RemoteError("transient", "delete", errors.New("pcloud error: Internal error (5000)"))
	rec.RemoteError("transient", "put", errors.New("pcloud error: Internal error (5000)"))
	rec.RemoteError("permission denied", "put", errors.New("access denied"))

	rec.ReapFailed("hosts/b", errors.New("pcloud error: File not found. (2009)"), now)
	rec.RetiredByTimeout("hosts/b")
	now = now.Add(5 * time.Minute)
	return rec, &now
}

// admitAll gives every repository that exists its own entry.
func admitAll(string) bool { return true }

func records() []RepoRecords {
	return []RepoRecords{
		{Repo: "hosts/a", Created: 2, Tombstones: 1},
		{Repo: "hosts/b", PendingReaps: 1, OldestPendingReap: time.Date(2026, 12, 1, 3, 59, 20, 0, time.UTC)},
	}
}

var info = Info{Version: "v9.9.9 (rclone v1.76.0)", Remote: "pcloud:backups", Started: time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC),
	OverlayMode: "local journal", SettleWindow: 10 * time.Minute, Peers: func() int { return 0 }}

func TestSnapshot(t *testing.T) {
	rec, _ := fixture(t)
	s := rec.Snapshot(info, records())
	if s.Safe {
		t.Error("a retirement by timeout must make the page unsafe")
	}
	if time.Duration(s.Uptime) != 3*time.Hour {
		t.Errorf("uptime %s", s.Uptime)
	}
	want := map[string]Repo{
		"":        {Name: "", Requests: 1, State: "ok"},
		"hosts/a": {Name: "hosts/a", Waiting: 2, Tombstones: 1, Requests: 2, Errors: 1, State: "waiting"},
		"hosts/b": {Name: "hosts/b", PendingDeletes: 1, OldestPendingDelete: Seconds(40 * time.Second), RetiredByTimeout: 1, State: "lapsed",
			LastRemoteError: "pcloud error: File not found. (2009)"},
	}
	if len(s.Repos) != len(want) {
		t.Fatalf("repos %+v", s.Repos)
	}
	for _, r := range s.Repos {
		w := want[r.Name]
		if r.LastRemoteErrorAt == nil && w.LastRemoteError != "" {
			t.Errorf("%s: no time for the last error", r.Name)
		}
		r.LastRemoteErrorAt = nil
		if r != w {
			t.Errorf("repo %q:\n got %+v\nwant %+v", r.Name, r, w)
		}
	}
	if len(s.CreateLag) != 2 || time.Duration(s.CreateLag[0].Max) != 3*time.Second || time.Duration(s.CreateLag[0].Mean) != 2*time.Second || s.CreateLag[0].N != 2 ||
		time.Duration(s.CreateLag[1].Max) != 4*time.Second {
		t.Errorf("create lag %+v: want the two minutes of the last hour", s.CreateLag)
	}
	if len(s.DeleteLag) != 1 || time.Duration(s.DeleteLag[0].Max) != 2*time.Second {
		t.Errorf("delete lag %+v", s.DeleteLag)
	}
	if len(s.RemoteErrors) != 2 || s.RemoteErrors[0].Kind != "permission denied" || s.RemoteErrors[1].Count != 2 ||
		s.RemoteErrors[1].Last != "put: pcloud error: Internal error (5000)" {
		t.Errorf("remote errors %+v", s.RemoteErrors)
	}
}

func TestStuckDelete(t *testing.T) {
	rec := NewRecorder(admitAll)
	now := time.Now()
	s := rec.Snapshot(info, []RepoRecords{{Repo: "r", PendingReaps: 1, OldestPendingReap: now.Add(-6 * time.Minute)}})
	if s.Safe || s.Repos[0].State != "stuck" {
		t.Errorf("a delete pending for over half the settle window: %+v", s)
	}
	s = rec.Snapshot(info, nil)
	if !s.Safe || len(s.Repos) != 0 {
		t.Errorf("an idle instance: %+v", s)
	}
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func TestHandlerHTML(t *testing.T) {
	rec, _ := fixture(t)
	h := Handler(rec, info, records, nil)
	w := get(t, h, "/status")
	body := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		"v9.9.9 (rclone v1.76.0)", "pcloud:backups", "3h0m0s", "local journal", "Peer instances seen</dt><dd>0",
		"Attention: the consistency guarantee has lapsed",
		"<td>/hosts/a</td>", `<td class="state-waiting">waiting</td>`,
		"<td>/hosts/b</td>", `<td class="state-lapsed">lapsed</td>`, "1 (40s)",
		"last remote error 5m0s ago: pcloud error: File not found. (2009)",
		"<td>/ (root)</td>", "2 / 1",
		`<polyline class="lag-create" points="`, `<polyline class="lag-delete" points="`,
		"create lag at 03:40: max 3s, mean 2s over 2", "create (2 minute(s) with samples)",
		"permission denied", "put: access denied",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") {
		t.Error("the page must work without JavaScript")
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestHandlerJSON(t *testing.T) {
	rec, _ := fixture(t)
	w := get(t, Handler(rec, info, records, nil), "/status?format=json")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var got struct {
		Version string  `json:"version"`
		Uptime  float64 `json:"uptime_s"`
		Safe    bool    `json:"safe"`
		Peers   int     `json:"peers"`
		Repos   []struct {
			Repo     string  `json:"repo"`
			Waiting  int     `json:"records_waiting"`
			Pending  int     `json:"pending_deletes"`
			Oldest   float64 `json:"oldest_pending_delete_s"`
			LastErr  string  `json:"last_remote_error"`
			Retired  int     `json:"retired_by_timeout"`
			Requests int     `json:"requests_last_hour"`
			Errors   int     `json:"errors_last_hour"`
			State    string  `json:"state"`
		} `json:"repos"`
		CreateLag []struct {
			Max float64 `json:"max_s"`
		} `json:"create_lag"`
		RemoteErrors []struct {
			Kind  string `json:"kind"`
			Count int    `json:"count"`
		} `json:"remote_errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, w.Body.String())
	}
	if got.Version != info.Version || got.Uptime != 10800 || got.Safe || len(got.Repos) != 3 || len(got.CreateLag) != 2 || got.CreateLag[1].Max != 4 || len(got.RemoteErrors) != 2 {
		t.Errorf("JSON %s", w.Body.String())
	}
	b := got.Repos[2]
	if b.Repo != "hosts/b" || b.Pending != 1 || b.Oldest != 40 || b.Retired != 1 || b.State != "lapsed" || !strings.Contains(b.LastErr, "2009") {
		t.Errorf("hosts/b: %+v", b)
	}
	if w := get(t, Handler(rec, info, records, nil), "/status?format=xml"); w.Code != http.StatusBadRequest {
		t.Errorf("format=xml: %d", w.Code)
	}
}

func TestEmptyChart(t *testing.T) {
	w := get(t, Handler(NewRecorder(admitAll), info, func() []RepoRecords { return nil }, nil), "/status")
	body := w.Body.String()
	if !strings.Contains(body, "no lag observed in the last hour") || strings.Contains(body, "<polyline") ||
		!strings.Contains(body, "Repositories are safe") || !strings.Contains(body, "No repository used since the start") {
		t.Errorf("idle page:\n%s", body)
	}
}

// Another instance on the remote path without a shared overlay makes the
// page unsafe even when every repository is fine, and the verdict says
// what to do; an instance that does not look says so instead of "0".
func TestPeerInstances(t *testing.T) {
	peers := 1
	withPeer := info
	withPeer.Peers = func() int { return peers }
	h := Handler(NewRecorder(admitAll), withPeer, func() []RepoRecords { return nil }, nil)
	body := get(t, h, "/status").Body.String()
	for _, want := range []string{"Attention: 1 other steadyrest instance(s) serve this remote path without a shared overlay",
		"give every instance the same --shared", "Peer instances seen</dt><dd>1 without a shared overlay"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "has lapsed") {
		t.Error("the verdict blames the repositories, which are all fine")
	}
	var got struct {
		Safe         bool `json:"safe"`
		Peers        int  `json:"peers"`
		PeersChecked bool `json:"peers_checked"`
	}
	if err := json.Unmarshal(get(t, h, "/status?format=json").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Safe || got.Peers != 1 || !got.PeersChecked {
		t.Errorf("JSON with a peer: %+v", got)
	}
	peers = 0 // read at each request
	if s := NewRecorder(admitAll).Snapshot(withPeer, nil); !s.Safe || s.Peers != 0 {
		t.Errorf("the peer left: %+v", s)
	}

	off := info
	off.Peers = nil
	body = get(t, Handler(NewRecorder(admitAll), off, func() []RepoRecords { return nil }, nil), "/status").Body.String()
	if !strings.Contains(body, "Peer instances seen</dt><dd>not checked (heartbeats off)") || !strings.Contains(body, "Repositories are safe") {
		t.Errorf("heartbeats off:\n%s", body)
	}
}

// Issue 21 item 3: a repository gets an entry only once an answer shows it
// exists, and only as many as the metrics' cap admits; the rest share one.
func TestRecorderBounded(t *testing.T) {
	rec := NewRecorder(metrics.NewRepoCap(2).Admit)
	for i := range 1000 {
		rec.Request(fmt.Sprintf("alice/r%d", i), http.StatusNotFound, false)
	}
	if n := len(rec.repos); n != 0 {
		t.Fatalf("1000 404s for made-up repositories made %d entries", n)
	}
	if s := rec.Snapshot(info, nil); len(s.Repos) != 0 || s.OtherRepos != nil {
		t.Fatalf("404s for made-up repositories show: %+v %+v", s.Repos, s.OtherRepos)
	}
	rec.Request("alice/down", http.StatusServiceUnavailable, false) // the remote's failure: kept, without a line
	for _, repo := range []string{"a", "b", "c", "a"} {
		rec.Request(repo, http.StatusOK, true)
	}
	rec.Request("a", http.StatusNotFound, false) // a known repository counts everything
	rec.RetiredByTimeout("d")                    // over the cap too

	s := rec.Snapshot(info, nil)
	if len(rec.repos) != 2 || len(s.Repos) != 2 || s.Repos[0].Name != "a" || s.Repos[0].Requests != 3 || s.Repos[1].Name != "b" {
		t.Errorf("repos %+v, want a (3 requests) and b", s.Repos)
	}
	want := Repo{Requests: 2, Errors: 1, RetiredByTimeout: 1, State: "lapsed"}
	if s.OtherRepos == nil || *s.OtherRepos != want {
		t.Errorf("other repositories %+v, want %+v", s.OtherRepos, want)
	}
	if s.Safe {
		t.Error("a lapse among the other repositories must make the page unsafe")
	}
	body := get(t, Handler(rec, info, func() []RepoRecords { return nil }, nil), "/status").Body.String()
	if !strings.Contains(body, "<td>other repositories") || !strings.Contains(body, "the consistency guarantee has lapsed") {
		t.Errorf("page:\n%s", body)
	}
}

// Issue 21 item 6: the page's policy allows its own style sheet, by the
// hash of what the page really holds, and the page needs nothing else.
func TestPageCSP(t *testing.T) {
	rec, _ := fixture(t)
	w := get(t, Handler(rec, info, records, nil), "/status")
	body, csp := w.Body.String(), w.Header().Get("Content-Security-Policy")
	_, css, _ := strings.Cut(body, "<style>")
	css, _, ok := strings.Cut(css, "</style>")
	if !ok {
		t.Fatalf("no style sheet in\n%s", body)
	}
	sum := sha256.Sum256([]byte(css))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("policy %q lacks %q", csp, want)
	}
	if !strings.HasPrefix(csp, "default-src 'none'; ") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("policy %q", csp)
	}
	// What the policy would block: inline style attributes and scripts.
	for _, bad := range []string{" style=", "<script", "<link", "<img"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page holds %q, which its policy blocks", bad)
		}
	}
}
