package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/operations"

	"github.com/steadyrest/steadyrest/cache"
	"github.com/steadyrest/steadyrest/proxy"
)

// startQuota counts what the remote holds (one recursive listing, ListR
// where the backend has it) for --max-size, but for steadyrest's own
// objects (heartbeats: a start must not race its own upload). On a remote
// that lags, that count misses uploads of the last moments before the
// start and still holds recent deletes; uploads and deletes through
// steadyrest keep it current from then on.
func startQuota(ctx context.Context, cfg *config, f fs.Fs, log *slog.Logger) (*proxy.Quota, error) {
	if cfg.maxRepoSize == 0 {
		return nil, nil
	}
	var objects, size atomic.Int64
	err := operations.ListFn(ctx, f, func(o fs.Object) { // may call back concurrently
		if cache.IsOwnObject(o.Remote()) {
			return
		}
		objects.Add(1)
		size.Add(max(o.Size(), 0))
	})
	if err != nil {
		return nil, fmt.Errorf("--max-size: count what the remote holds: %w", err)
	}
	q, err := proxy.NewQuota(cfg.maxRepoSize, size.Load())
	if err != nil {
		return nil, fmt.Errorf("--max-size: %w", err)
	}
	log.Info("repository quota", "max_bytes", cfg.maxRepoSize, "used_bytes", size.Load(), "objects", objects.Load())
	return q, nil
}
