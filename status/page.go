package status

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/health"
)

// Info is what the page says about the instance.
type Info struct {
	Version string
	Remote  string
	Started time.Time
	// OverlayMode says where overlay records live: "local journal" or
	// "shared".
	OverlayMode string
	// Peers reads how many other live instances serve the same remote
	// path without sharing this one's overlay; nil when the instance does
	// not look (heartbeats off).
	Peers        func() int
	SettleWindow time.Duration
	// Health is the repositories' health (package health); nil: not shown.
	Health *health.Tracker
	// BaseURL is --baseurl, for the unlock command the page gives.
	BaseURL string
	// Scrub reads the background scrub's state; nil: it is off.
	Scrub func() Scrub
}

// RepoRecords is one repository's overlay records that wait for the
// remote (from the cache; see overlay.Store.RecordsByRepo).
type RepoRecords struct {
	Repo                              string
	Created, Tombstones, PendingReaps int
	OldestPendingReap                 time.Time
}

// Seconds is a duration that reads as seconds in JSON.
type Seconds time.Duration

// MarshalJSON writes the duration as a number of seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', 3, 64)), nil
}

// String rounds for people: 0s, 850ms, 3.2s, 4m10s.
func (s Seconds) String() string {
	d := time.Duration(s)
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Repo is one repository's line on the page.
type Repo struct {
	Name string `json:"repo"`
	// Waiting: writes the remote does not show yet. Tombstones: deletes
	// it carried out that its latest listing still showed. PendingDeletes: deletes it has not carried out;
	// the oldest is OldestPendingDelete old.
	Waiting             int     `json:"records_waiting"`
	Tombstones          int     `json:"tombstones"`
	PendingDeletes      int     `json:"pending_deletes"`
	OldestPendingDelete Seconds `json:"oldest_pending_delete_s"`
	// LastRemoteError is the remote's last answer to a retried delete.
	LastRemoteError   string     `json:"last_remote_error,omitempty"`
	LastRemoteErrorAt *time.Time `json:"last_remote_error_at,omitempty"`
	// RetiredByTimeout counts records retired at the settle window
	// without the remote confirming them: the guarantee may have lapsed.
	RetiredByTimeout int `json:"retired_by_timeout"`
	// Requests and Errors (5xx answers) over the last hour.
	Requests int `json:"requests_last_hour"`
	Errors   int `json:"errors_last_hour"`
	// State is "ok", "waiting" (records wait for the remote, as they
	// should on a lagging remote), "stuck" (a delete waits for more than
	// half the settle window) or "lapsed" (a record retired by timeout).
	State string `json:"state"`
}

// LagPoint is one minute of the remote's observed lag.
type LagPoint struct {
	Minute time.Time `json:"minute"`
	N      int       `json:"n"`
	Mean   Seconds   `json:"mean_s"`
	Max    Seconds   `json:"max_s"`
}

// ErrorKind counts one kind of remote failure since the start.
type ErrorKind struct {
	Kind   string    `json:"kind"`
	Count  int       `json:"count"`
	Last   string    `json:"last"`
	LastAt time.Time `json:"last_at"`
}

// Snapshot is everything on the page, and the JSON answer.
type Snapshot struct {
	Now          time.Time `json:"now"`
	Version      string    `json:"version"`
	Remote       string    `json:"remote"`
	Started      time.Time `json:"started"`
	Uptime       Seconds   `json:"uptime_s"`
	OverlayMode  string    `json:"overlay_mode"`
	Peers        int       `json:"peers"`
	PeersChecked bool      `json:"peers_checked"`
	SettleWindow Seconds   `json:"settle_window_s"`
	// Peers: other live instances on the same remote path without a
	// shared overlay (the guarantee does not hold between them);
	// PeersChecked is false when this instance does not look.
	// Safe: no repository lapsed or stuck, and no such peer.
	Safe  bool   `json:"safe"`
	Repos []Repo `json:"repos"`
	// OtherRepos adds up the repositories without a line of their own
	// (over the cap, or not yet known to exist); nil when there are none.
	OtherRepos   *Repo       `json:"other_repos,omitempty"`
	CreateLag    []LagPoint  `json:"create_lag"`
	DeleteLag    []LagPoint  `json:"delete_lag"`
	RemoteErrors []ErrorKind `json:"remote_errors"`
	// Health is each repository's health: last snapshot, size, locks.
	Health []RepoHealth `json:"repository_health"`
	// Scrub is the background scrub's last run; nil when it is off.
	Scrub *Scrub `json:"scrub,omitempty"`
}

// Snapshot gathers the page's data: info, the overlay's records per
// repository, and what the recorder saw.
func (r *Recorder) Snapshot(info Info, records []RepoRecords) Snapshot {
	now := r.now()
	s := Snapshot{Now: now.UTC(), Version: info.Version, Remote: info.Remote, Started: info.Started.UTC(),
		Uptime: Seconds(now.Sub(info.Started)), OverlayMode: info.OverlayMode,
		SettleWindow: Seconds(info.SettleWindow), Safe: true}
	if info.Peers != nil {
		s.Peers, s.PeersChecked = info.Peers(), true
		s.Safe = s.Peers == 0
	}
	byName := map[string]*Repo{}
	repo := func(name string) *Repo {
		if p := byName[name]; p != nil {
			return p
		}
		p := &Repo{Name: name}
		byName[name] = p
		return p
	}
	for _, rr := range records {
		p := repo(rr.Repo)
		p.Waiting, p.Tombstones, p.PendingDeletes = rr.Created, rr.Tombstones, rr.PendingReaps
		if !rr.OldestPendingReap.IsZero() {
			p.OldestPendingDelete = Seconds(now.Sub(rr.OldestPendingReap))
		}
	}
	cutoff := now.Add(-window).Unix() / 60
	r.mu.Lock()
	for name, st := range r.repos {
		st.addTo(repo(name), cutoff)
	}
	if others := (Repo{}); r.others.addTo(&others, cutoff) {
		s.OtherRepos = &others
	}
	for m := cutoff + 1; m <= now.Unix()/60; m++ {
		b := r.lag[m%int64(buckets)]
		if b.minute != m {
			continue
		}
		at := time.Unix(m*60, 0).UTC()
		if b.createN > 0 {
			s.CreateLag = append(s.CreateLag, LagPoint{Minute: at, N: b.createN, Mean: Seconds(b.createSum / time.Duration(b.createN)), Max: Seconds(b.createMax)})
		}
		if b.deleteN > 0 {
			s.DeleteLag = append(s.DeleteLag, LagPoint{Minute: at, N: b.deleteN, Mean: Seconds(b.deleteSum / time.Duration(b.deleteN)), Max: Seconds(b.deleteMax)})
		}
	}
	for kind, e := range r.errors {
		s.RemoteErrors = append(s.RemoteErrors, ErrorKind{Kind: kind, Count: e.count, Last: e.last, LastAt: e.lastAt.UTC()})
	}
	r.mu.Unlock()

	for _, p := range byName {
		s.Safe = p.judge(info.SettleWindow) && s.Safe
		s.Repos = append(s.Repos, *p)
	}
	if s.OtherRepos != nil {
		s.Safe = s.OtherRepos.judge(info.SettleWindow) && s.Safe
	}
	sort.Slice(s.Repos, func(i, j int) bool { return s.Repos[i].Name < s.Repos[j].Name })
	sort.Slice(s.RemoteErrors, func(i, j int) bool { return s.RemoteErrors[i].Kind < s.RemoteErrors[j].Kind })
	return s
}

// addTo adds what st saw after the minute cutoff to p, and reports
// whether it saw anything.
func (st *repoState) addTo(p *Repo, cutoff int64) bool {
	p.RetiredByTimeout += st.retiredByTimeout
	if st.lastReapErr != "" {
		p.LastRemoteError = st.lastReapErr
		at := st.lastReapErrAt.UTC()
		p.LastRemoteErrorAt = &at
	}
	seen := st.retiredByTimeout > 0 || st.lastReapErr != ""
	for _, b := range st.minutes {
		if b.minute > cutoff {
			p.Requests += b.requests
			p.Errors += b.errors
			seen = seen || b.requests > 0
		}
	}
	return seen
}

// judge sets p's State and reports whether it is safe.
func (p *Repo) judge(settleWindow time.Duration) bool {
	switch {
	case p.RetiredByTimeout > 0:
		p.State = "lapsed"
	case p.PendingDeletes > 0 && settleWindow > 0 && time.Duration(p.OldestPendingDelete) > settleWindow/2:
		p.State = "stuck"
	case p.Waiting+p.Tombstones+p.PendingDeletes > 0:
		p.State = "waiting"
	default:
		p.State = "ok"
	}
	return p.safe()
}

// safe: the guarantee holds for p (its State is neither lapsed nor stuck).
func (p Repo) safe() bool { return p.State != "lapsed" && p.State != "stuck" }

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"repoName": func(s string) string {
		if s == "" {
			return "/ (root)"
		}
		return "/" + s
	},
	"ago": func(now, t time.Time) string { return Seconds(now.Sub(t)).String() + " ago" },
	"row": func(now time.Time, name string, r Repo) repoRow { return repoRow{r, name, now} },
}).Parse(pageHTML))

// repoRow is one line of the repositories' table.
type repoRow struct {
	Repo
	Label string
	Now   time.Time
}

// pageCSP lets the page use its own style sheet, by its hash, and nothing
// else: no script, no fetch, no frame, no form. The hash is the one of the
// <style> element's text in page.html, which holds no template action.
var pageCSP = func() string {
	_, css, _ := strings.Cut(pageHTML, "<style>")
	css, _, ok := strings.Cut(css, "</style>")
	if !ok {
		panic("status: page.html has no <style> element")
	}
	sum := sha256.Sum256([]byte(css))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

// pageData is the template's input: the snapshot, its chart, and whether
// every repository is safe (the verdict names each reason apart).
type pageData struct {
	Snapshot
	Chart     chart
	ReposSafe bool
}

// Handler serves the page at GET /status, and the same data as JSON with
// ?format=json. records reads the overlay's state at request time.
func Handler(rec *Recorder, info Info, records func() []RepoRecords, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		snap := rec.Snapshot(info, records())
		if info.Health != nil {
			snap.Health = repoHealth(info.Health.Repos(), info.Health.Now(), repoURLBase(r, info.BaseURL))
		}
		if info.Scrub != nil {
			sc := info.Scrub()
			snap.Scrub = &sc
		}
		w.Header().Set("Cache-Control", "no-store")
		switch f := r.URL.Query().Get("format"); f {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(snap); err != nil {
				log.Debug("status: write JSON", "err", err)
			}
		case "", "html":
			var buf bytes.Buffer
			reposSafe := snap.OtherRepos == nil || snap.OtherRepos.safe()
			for _, r := range snap.Repos {
				reposSafe = reposSafe && r.safe()
			}
			if err := page.Execute(&buf, pageData{Snapshot: snap, Chart: newChart(snap), ReposSafe: reposSafe}); err != nil {
				log.Error("status: render page", "err", err)
				http.Error(w, "500 could not render the status page", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", pageCSP)
			_, _ = w.Write(buf.Bytes())
		default:
			http.Error(w, fmt.Sprintf("400 unknown format %q (html or json)", f), http.StatusBadRequest)
		}
	})
}
