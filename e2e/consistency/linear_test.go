package consistency

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
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
		srv := startSteadyrest(t, lagRemote(t, "3s", "jitter=1s"))
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
		srv := startRclone(t, lagRemote(t, "3s", "jitter=1s"))
		hist := RecordLockHistory(t, linConfig(false, "http://"+srv.Addr+"/lin"))
		res := CheckLockHistory(t, "rclone", hist, false)
		if res != porcupine.Illegal {
			t.Fatalf("history of %d operations through rclone serve restic on a lagging remote: porcupine says %v, want Illegal (not linearizable)", len(hist), res)
		}
		t.Logf("rclone serve restic: %d operations: porcupine result %v (not linearizable), as expected", len(hist), res)
	})
}
