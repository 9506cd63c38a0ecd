package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/internal/testutil"
	"github.com/steadyrest/steadyrest/metrics"
	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/status"
)

// Issue 22 item 5: the status page learns the reaper's failures and the
// retirements by timeout from the store's observer, not from its log
// lines: with a logger that drops everything, they still reach the page,
// and the metrics count them.
func TestStoreEventsReachStatusPageWithoutLogs(t *testing.T) {
	ctx := context.Background()
	rec, reg := newStatusRecorder(), prometheus.NewRegistry()
	obs := statusObserver{metricsObserver{metrics.New(reg)}, rec}
	quiet := slog.New(slog.DiscardHandler)
	open := func(opts string, settle time.Duration) *overlay.Store {
		t.Helper()
		f, err := fs.NewFs(ctx, testutil.LagSpec(t.TempDir(), opts))
		if err != nil {
			t.Fatal(err)
		}
		s, err := overlay.New(f, overlay.Options{StateDir: t.TempDir(), SettleWindow: settle, Observer: obs, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	lock := func(s *overlay.Store, repo string) overlay.Handle {
		t.Helper()
		data := []byte("lock of " + repo)
		sum := sha256.Sum256(data)
		h := overlay.Handle{Repo: repo, Type: overlay.Locks, Name: hex.EncodeToString(sum[:])}
		if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), overlay.PutOptions{SHA256: sum[:]}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	// A remote that never shows an upload: its record retires at the
	// settle window, unconfirmed.
	lock(open(",create_lag=1h", 700*time.Millisecond), "hosts/lapsed")
	// A remote that fails every removal: the delete is absorbed and the
	// reaper fails to remove the object.
	failing := open(",error_rate=1,error_ops=delete", time.Hour)
	if err := failing.Remove(ctx, lock(failing, "hosts/stuck")); err != nil {
		t.Fatalf("the delete should be absorbed: %v", err)
	}

	info := status.Info{Version: "test", Started: time.Now(), SettleWindow: time.Hour}
	var lapsed, stuck status.Repo
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && (lapsed.RetiredByTimeout == 0 || stuck.LastRemoteError == "") {
		time.Sleep(100 * time.Millisecond)
		for _, r := range rec.Snapshot(info, nil).Repos {
			switch r.Name {
			case "hosts/lapsed":
				lapsed = r
			case "hosts/stuck":
				stuck = r
			}
		}
	}
	if lapsed.RetiredByTimeout != 1 || lapsed.State != "lapsed" {
		t.Errorf("the retirement by timeout did not reach the page: %+v", lapsed)
	}
	if stuck.LastRemoteError == "" {
		t.Errorf("the reaper's failure did not reach the page: %+v", stuck)
	}
	w := httptest.NewRecorder()
	status.Handler(rec, info, func() []status.RepoRecords { return nil }, quiet).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/status", nil))
	body := w.Body.String()
	for _, want := range []string{"<td>/hosts/lapsed</td>", "the consistency guarantee has lapsed", "<td>/hosts/stuck</td>", "last remote error"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, event := range []string{overlay.EventRetiredTimeout, overlay.EventReapFailed} {
		if n := overlayEvents(t, reg, event); n < 1 {
			t.Errorf("steadyrest_overlay_events_total{event=%q} = %v", event, n)
		}
	}
}

// overlayEvents reads steadyrest_overlay_events_total{event} from reg.
func overlayEvents(t *testing.T, reg *prometheus.Registry, event string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "steadyrest_overlay_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "event" && l.GetValue() == event {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no steadyrest_overlay_events_total{event=%q}", event)
	return 0
}
