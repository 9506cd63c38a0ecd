package main

import (
	"net/http"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/health"
	"github.com/steadyrest/steadyrest/metrics"
	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/proxy"
	"github.com/steadyrest/steadyrest/status"
)

// statusObserver passes the overlay's events to the metrics (next) and the
// parts the status page keeps to its recorder.
type statusObserver struct {
	next overlay.Observer
	rec  *status.Recorder
}

func (o statusObserver) RemoteOp(op, result string, d time.Duration) { o.next.RemoteOp(op, result, d) }
func (o statusObserver) RemoteFailed(op, kind string, err error) {
	o.next.RemoteFailed(op, kind, err)
	o.rec.RemoteError(kind, op, err)
}
func (o statusObserver) Event(name string) { o.next.Event(name) }
func (o statusObserver) SharedOp(op, result string, d time.Duration) {
	o.next.SharedOp(op, result, d)
}
func (o statusObserver) Retry(op string) { o.next.Retry(op) }
func (o statusObserver) Visible(kind string, lag time.Duration) {
	o.next.Visible(kind, lag)
	o.rec.Visible(kind, lag)
}

// Object keeps per repository the reaper's last error and the retirements
// by timeout.
func (o statusObserver) Object(e overlay.ObjectEvent) {
	o.next.Object(e)
	switch {
	case e.Event == overlay.EventReapFailed && e.Err != nil:
		o.rec.ReapFailed(e.Repo, e.Err, e.At)
	case e.Event == overlay.EventRetiredTimeout:
		o.rec.RetiredByTimeout(e.Repo)
	}
}

// newStatusRecorder returns the status page's recorder, bounded by the
// metrics' rule on repositories.
func newStatusRecorder() *status.Recorder {
	return status.NewRecorder(metrics.NewRepoCap(metrics.MaxRepos).Admit)
}

// withStatusRequests also feeds finished requests to the status recorder.
func withStatusRequests(rec *status.Recorder, next func(proxy.RequestInfo)) func(proxy.RequestInfo) {
	return func(ri proxy.RequestInfo) {
		next(ri)
		// A success shows the repository exists, but for a listing: the
		// listing of a missing repository is empty, not a 404.
		exists := ri.Status >= 200 && ri.Status < 300 && !ri.List
		rec.Request(ri.Repo, ri.Status, exists)
	}
}

// overlayMode says where the records live, for the log and the status page.
func overlayMode(cfg *config) string {
	if cfg.shared != "" {
		return "shared in Redis (" + redactURL(cfg.shared) + ")"
	}
	return "local journal (" + cfg.stateDir + "); not shared with other instances"
}

// statusHandler builds GET /status, behind /metrics' own guard: with
// --private-repos only the user metrics sees it. The page names every
// repository, the remote, the state dir or the Redis host and the remote's
// errors; an operator-only view keeps them all from the other users, where
// a view filtered to each user's repositories would have to redact each
// of them, and whatever the page shows next.
func statusHandler(w *wired, tracker *health.Tracker) http.Handler {
	cfg, remote, peers := w.cfg, w.remote, w.peers
	info := status.Info{
		Version:      versionString(),
		Remote:       redactText(fs.ConfigString(remote)),
		Started:      time.Now(),
		OverlayMode:  overlayMode(cfg),
		SettleWindow: cfg.settleWindow,
		Health:       tracker,
		BaseURL:      cfg.baseURL,
		Scrub:        w.scrubStatus,
	}
	if peers != nil {
		info.Peers = peers.PeerInstances
	}
	records := func() []status.RepoRecords {
		rs := w.store.RecordsByRepo()
		out := make([]status.RepoRecords, len(rs))
		for i, r := range rs {
			out[i] = status.RepoRecords(r)
		}
		return out
	}
	return proxy.Guard(w.auth, proxy.Operator(cfg.privateRepos), status.Handler(w.recorder, info, records, w.log))
}
