package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// Issue 21 item 5: a lock answered 200 inside --lock-upload-delay, then
// FLUSHALL. The instance that acknowledged it publishes it again: it is
// read and reaches the remote.
func TestHardenFlushKeepsAcknowledgedLock(t *testing.T) {
	rds := redistest.Start(t, redistest.Options{})
	root := t.TempDir()
	srv := hardenServer(t, root, t.TempDir(), "--shared", rds.URL(), "--lock-upload-delay", "5s")
	lock := []byte(`{"time":"2026-12-06T08:00:00Z","exclusive":false,"hostname":"h","pid":1}`)
	api, file := upload(t, srv, "locks", lock)
	if err := redisOf(t, rds).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if !testutil.Until(30*time.Second, func() bool { return exists(filepath.Join(root, file)) }) {
		t.Error("the acknowledged lock never reached the remote after the flush")
	}
	if code, body := get(t, srv, api); code != http.StatusOK || string(body) != string(lock) {
		t.Errorf("GET of the lock after the flush: %d %q", code, body)
	}
}
