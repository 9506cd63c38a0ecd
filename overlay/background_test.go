package overlay

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

func TestSettleWindowRetiresByTimeout(t *testing.T) {
	f := testutil.LagFs(t, "create_lag=1h")
	s := newStore(t, f, Options{SettleWindow: 700 * time.Millisecond})
	h, _ := obj("never shows")
	put(t, s, h, "never shows")
	testutil.Eventually(t, "timeout retirement", 5*time.Second, func() bool { return s.Stats().Events[EventRetiredTimeout] == 1 })
	if s.Stats().Created != 0 {
		t.Fatalf("record still there: %+v", s.Stats())
	}
}

// config is in no listed folder: a lookup confirms it, and it must not
// wait for the settle window.
func TestConfigRecordRetiresByLookup(t *testing.T) {
	f := testutil.LagFs(t, "create_lag=300ms")
	s := newStore(t, f, Options{SettleWindow: time.Minute})
	for _, repo := range []string{"", "a/b"} {
		cfg := Handle{Repo: repo, Type: Config}
		if err := s.Put(context.Background(), cfg, strings.NewReader("config"), 6, PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "config records confirmed", 15*time.Second, func() bool { return s.Stats().Created == 0 })
	st := s.Stats()
	if st.Events[EventRetiredConfirmed] != 2 || st.Events[EventRetiredTimeout] != 0 {
		t.Fatalf("events: %v", st.Events)
	}
}

// objectLog keeps the object events the store reports.
type objectLog struct {
	nopObserver
	mu     sync.Mutex
	events []ObjectEvent
}

func (o *objectLog) Object(e ObjectEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}

// first returns the first event named name, if any.
func (o *objectLog) first(name string) (ObjectEvent, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.events {
		if e.Event == name {
			return e, true
		}
	}
	return ObjectEvent{}, false
}

// Issue 22 item 5: reaps, their failures and retirements reach the
// Observer as typed events naming the object, the remote's error and the
// time, whatever the logger does with the store's lines.
func TestObjectEvents(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	start := time.Now()

	lagging := &objectLog{}
	s := newStore(t, testutil.LagFs(t, "create_lag=1h"), Options{SettleWindow: 700 * time.Millisecond, Observer: lagging, Logger: quiet})
	h, _ := obj("never shows")
	put(t, s, h, "never shows")
	testutil.Eventually(t, "timeout retirement", 5*time.Second, func() bool { _, ok := lagging.first(EventRetiredTimeout); return ok })
	if e, _ := lagging.first(EventRetiredTimeout); e.Key != h.remotePath() || e.Repo != h.Repo || e.Err != nil || e.At.Before(start) {
		t.Errorf("retirement by timeout: %+v, want the key %s in %q", e, h.remotePath(), h.Repo)
	}

	failing := &objectLog{}
	s = newStore(t, testutil.LagFs(t, "error_rate=1,error_ops=delete"), Options{Observer: failing, Logger: quiet})
	h, _ = obj("cannot go")
	put(t, s, h, "cannot go")
	if err := s.Remove(context.Background(), h); err != nil {
		t.Fatalf("the delete should be absorbed: %v", err)
	}
	testutil.Eventually(t, "a failed reap", 10*time.Second, func() bool { _, ok := failing.first(EventReapFailed); return ok })
	for _, name := range []string{EventDeleteAbsorbed, EventReapFailed} {
		e, _ := failing.first(name)
		if e.Key != h.remotePath() || e.Repo != h.Repo || e.Err == nil || classify(e.Err) != failTransient || e.At.Before(start) {
			t.Errorf("%s: %+v, want the key %s in %q and the remote's transient error", name, e, h.remotePath(), h.Repo)
		}
	}
	if n := s.Stats().Events[EventReapFailed]; n == 0 {
		t.Error("a failed reap is not counted")
	}
}
