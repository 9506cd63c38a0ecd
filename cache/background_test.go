package cache

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestSettleWindowRetiresByTimeout(t *testing.T) {
	f := lagRemote(t, ",create_lag=1h")
	s := newStore(t, f, Options{SettleWindow: 700 * time.Millisecond})
	h, _ := obj("never shows")
	put(t, s, h, "never shows")
	waitFor(t, "timeout retirement", 5*time.Second, func() bool { return s.Stats().Events[EventRetiredTimeout] == 1 })
	if s.Stats().Created != 0 {
		t.Fatalf("record still there: %+v", s.Stats())
	}
}

// config is in no listed folder: a lookup confirms it, and it must not
// wait for the settle window.
func TestConfigRecordRetiresByLookup(t *testing.T) {
	f := lagRemote(t, ",create_lag=300ms")
	s := newStore(t, f, Options{SettleWindow: time.Minute})
	for _, repo := range []string{"", "a/b"} {
		cfg := Handle{Repo: repo, Type: Config}
		if err := s.Put(context.Background(), cfg, strings.NewReader("config"), 6, PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "config records confirmed", 15*time.Second, func() bool { return s.Stats().Created == 0 })
	st := s.Stats()
	if st.Events[EventRetiredConfirmed] != 2 || st.Events[EventRetiredTimeout] != 0 {
		t.Fatalf("events: %v", st.Events)
	}
}
