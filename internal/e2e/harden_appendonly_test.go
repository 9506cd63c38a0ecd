package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// Issue 21 item 1: with --append-only and a shared overlay, DELETE of a
// pack answers 403; a pending reap forged in Redis with plain commands
// must not make the reaper remove it either.
func TestHardenAppendOnlyForgedRedisTombstone(t *testing.T) {
	rds := redistest.Start(t, redistest.Options{})
	root := t.TempDir()
	srv := hardenServer(t, root, t.TempDir(), "--append-only", "--shared", rds.URL())
	pack := []byte("a pack the backup needs")
	api, file := upload(t, srv, "data", pack)
	if code := call(t, srv, http.MethodDelete, api, nil); code != http.StatusForbidden {
		t.Fatalf("DELETE under --append-only: %d, want 403", code)
	}

	// The attacker finds the records' key with SCAN and forges a pending
	// reap of the pack.
	c, ctx := redisOf(t, rds), context.Background()
	keys, _, err := c.Scan(ctx, 0, "steadyrest:*:d:repo/data", 10).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("SCAN for the records: %v, %v", keys, err)
	}
	prefix := strings.TrimSuffix(keys[0], "d:repo/data")
	id := filepath.Base(file)
	member := "repo/data/" + id[:2] + "/" + id
	at := time.Now().Add(-time.Second)
	for _, err := range []error{
		c.HSet(ctx, keys[0], id, "t "+strconv.FormatInt(at.UnixNano(), 10)+" 1 0 0 0\n0 0 0").Err(),
		c.ZAdd(ctx, prefix+"z:pr", redis.Z{Score: float64(at.UnixMilli()), Member: member}).Err(),
		c.ZAdd(ctx, prefix+"z:rq", redis.Z{Score: 0, Member: member}).Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	refused := func() bool { return strings.Contains(srv.Log(), "refused what a record asked of the background") }
	testutil.Until(15*time.Second, func() bool { return !exists(filepath.Join(root, file)) || refused() })
	if !exists(filepath.Join(root, file)) {
		t.Fatal("the reaper removed the pack under --append-only on a forged Redis record")
	}
	if !refused() {
		t.Fatal("the forged record was neither obeyed nor refused in 15 s")
	}
	if code, body := get(t, srv, api); code != http.StatusOK || string(body) != string(pack) {
		t.Errorf("GET of the pack after the refusal: %d %q", code, body)
	}
}
