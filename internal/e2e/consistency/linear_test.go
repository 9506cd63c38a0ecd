package consistency

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

const (
	linClients      = 6
	linKeys         = 3
	linOpsPerClient = 60
	linDuration     = 6 * time.Second
)

// linConfig is the history TestLinearizableLocks records against bases.
func linConfig(strict bool, bases ...string) LinConfig {
	return LinConfig{Bases: bases, Clients: linClients, Keys: linKeys, OpsPerClient: linOpsPerClient, Duration: linDuration, Strict: strict}
}

// TestLinearizableLocks: concurrent POST/DELETE/HEAD/GET/list of a few lock
// names through steadyrest on a lagging remote (3s lag, 1s jitter) form a
// linearizable history per name; through rclone serve restic on the same
// kind of remote they do not, which shows the checker catches violations.
func TestLinearizableLocks(t *testing.T) {
	t.Run("steadyrest", func(t *testing.T) {
		srv := startSteadyrest(t, testutil.LagSpec(t.TempDir(), "create_lag=3s", "delete_lag=3s", "jitter=1s"))
		hist := RecordLockHistory(t, linConfig(true, "http://"+srv.Addr+"/lin"))
		if len(hist) < 100 {
			t.Fatalf("only %d operations recorded", len(hist))
		}
		res := CheckLockHistory(t, "steadyrest", hist, true)
		if res != porcupine.Ok {
			t.Fatalf("history of %d operations through steadyrest is not linearizable: %v", len(hist), res)
		}
		t.Logf("steadyrest: %d operations (lists counted per key) on %d keys by %d clients: linearizable (%v)", len(hist), linKeys, linClients, res)
	})
	t.Run("rclone-serve-restic", func(t *testing.T) {
		srv := startRclone(t, testutil.LagSpec(t.TempDir(), "create_lag=3s", "delete_lag=3s", "jitter=1s"))
		hist := RecordLockHistory(t, linConfig(false, "http://"+srv.Addr+"/lin"))
		res := CheckLockHistory(t, "rclone", hist, false)
		if res != porcupine.Illegal {
			t.Fatalf("history of %d operations through rclone serve restic on a lagging remote: porcupine says %v, want Illegal (not linearizable)", len(hist), res)
		}
		t.Logf("rclone serve restic: %d operations: porcupine result %v (not linearizable), as expected", len(hist), res)
	})
}

// A failed check names the key, where its linearizable prefix ends and the
// operation that cannot follow it.
func TestDescribeBreak(t *testing.T) {
	op := func(client int, kind linOpKind, status int, present bool, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{key: 1, kind: kind},
			Output: linOutput{status: status, present: present}, Call: call * 1e6, Return: ret * 1e6}
	}
	hist := []porcupine.Operation{
		op(0, opPut, 200, true, 0, 10),
		op(1, opHead, 200, true, 20, 30),
		op(2, opList, 200, false, 40, 50), // the write is gone: illegal
		{ClientId: 3, Input: linInput{key: 2, kind: opHead}, Output: linOutput{status: 404}, Call: 0, Return: 1},
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel, hist, 10*time.Second)
	if res != porcupine.Illegal {
		t.Fatalf("check: %v, want Illegal", res)
	}
	got := describeBreak(hist, info)
	for _, want := range []string{"key 1: 2 of 3 operations linearize", "HEAD k1 @0 -> 200 present=true [20.0..30.0 ms, client 1]", "LIST k1 @0 -> 200 present=false [40.0..50.0 ms, client 2]"} {
		if !strings.Contains(got, want) {
			t.Errorf("description lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "key 2") {
		t.Errorf("description names a key that linearized:\n%s", got)
	}
}
