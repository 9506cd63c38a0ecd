// Command rclone-lag-stats is cmd/rclone-lag (rclone v1.76.0's own command
// line with the lag test backend) plus one addition for the benchmarks: when
// BENCH_LAGSTATS_FILE and BENCH_LAGSTATS_REMOTE are set, it writes the lag
// backend's call counters for that remote to the file (JSON) every 100ms.
// The counters live inside the process, so this is the only way to count
// the remote calls `rclone serve restic` makes without changing rclone.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	_ "github.com/rclone/rclone/backend/all"
	"github.com/rclone/rclone/cmd"
	_ "github.com/rclone/rclone/cmd/all"
	"github.com/rclone/rclone/fs/cache"
	_ "github.com/rclone/rclone/lib/plugin"

	"github.com/steadyrest/steadyrest/internal/lagfs"
)

func main() {
	if file, remote := os.Getenv("BENCH_LAGSTATS_FILE"), os.Getenv("BENCH_LAGSTATS_REMOTE"); file != "" && remote != "" {
		go dumpStats(file, remote)
	}
	cmd.Main()
}

// dumpStats writes the counters of the lag Fs serve uses. cache.Get returns
// the very instance `serve` got for the same remote string, and calling it
// keeps that cache entry from expiring (which would reset the counters).
func dumpStats(file, remote string) {
	// Let the command line set up rclone before we create the Fs.
	time.Sleep(500 * time.Millisecond)
	for {
		if err := dumpOnce(file, remote); err != nil {
			fmt.Fprintln(os.Stderr, "rclone-lag-stats:", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dumpOnce(file, remote string) error {
	f, err := cache.Get(context.Background(), remote)
	if err != nil {
		return fmt.Errorf("get %s: %w", remote, err)
	}
	lf, ok := lagfs.FromFs(f)
	if !ok {
		return fmt.Errorf("%s is not a lag remote", remote)
	}
	st := lf.Stats()
	b, err := json.Marshal(struct {
		lagfs.Stats
		Calls int64
	}{st, st.Calls()})
	if err != nil {
		return fmt.Errorf("encode stats: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write stats: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("write stats: %w", err)
	}
	return nil
}
