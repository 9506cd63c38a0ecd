package overlay

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

// logged returns the messages logged at lvl that hold substr.
func (l *logRecords) logged(lvl slog.Level, substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level == lvl && strings.Contains(r.Message, substr) {
			out = append(out, r.Message)
		}
	}
	return out
}

// A Redis that keeps nothing across a restart is said at start; one with
// its append-only file is not.
func TestRedisWithoutPersistenceIsWarned(t *testing.T) {
	for _, aof := range []bool{false, true} {
		srv := redistest.Start(t, redistest.Options{AppendOnly: aof})
		logs := &logRecords{}
		newStore(t, localRemote(t, t.TempDir()), Options{Shared: srv.URL(), Logger: slog.New(logs)})
		if got := logs.logged(slog.LevelWarn, "appendonly no"); (len(got) > 0) == aof {
			t.Errorf("appendonly %v: warnings %q", aof, got)
		}
		if got := logs.logged(slog.LevelWarn, "no password"); len(got) > 0 {
			t.Errorf("a Redis on a unix socket was warned about: %q", got)
		}
	}
}

// An ACL user that may not run CONFIG GET gets an INFO that the
// persistence could not be checked, not a warning, and the store works.
func TestRedisPersistenceUncheckable(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	if err := redisClient(t, srv).Do(ctx, "ACL", "SETUSER", "limited", "on", ">secret", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(srv.URL(), "unix://", "unix://limited:secret@", 1)
	logs := &logRecords{}
	s := newStore(t, localRemote(t, t.TempDir()), Options{Shared: url, Logger: slog.New(logs)})
	if got := logs.logged(slog.LevelInfo, "could not check whether Redis persists"); len(got) != 1 {
		t.Errorf("INFO lines about the unchecked persistence: %q, want one", got)
	}
	if got := logs.logged(slog.LevelWarn, "appendonly"); len(got) > 0 {
		t.Errorf("warned: %q", got)
	}
	put(t, s, handleOf(Locks, "works"), "works")
}

func TestLoopbackAddr(t *testing.T) {
	for _, c := range []struct {
		network, addr string
		want          bool
	}{
		{"unix", "/run/redis.sock", true},
		{"tcp", "127.0.0.1:6379", true},
		{"tcp", "[::1]:6379", true},
		{"tcp", "localhost:6379", true},
		{"tcp", "10.0.0.5:6379", false},
		{"tcp", "redis.example.org:6379", false},
		{"tcp", "[2001:db8::1]:6379", false},
	} {
		if got := loopbackAddr(c.network, c.addr); got != c.want {
			t.Errorf("loopbackAddr(%s, %s) = %v, want %v", c.network, c.addr, got, c.want)
		}
	}
}
