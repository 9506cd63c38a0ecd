package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/proxy"
)

// startQuota has the store count what it holds for --max-size (one
// recursive listing with the overlay applied, before the server takes
// writes), and returns the quota over that count.
func startQuota(ctx context.Context, cfg *config, store *overlay.Store, log *slog.Logger) (*proxy.Quota, error) {
	if cfg.maxRepoSize == 0 {
		return nil, nil
	}
	u, err := store.CountUsage(ctx)
	if err != nil {
		return nil, fmt.Errorf("--max-size: %w", err)
	}
	q, err := proxy.NewQuota(cfg.maxRepoSize, store)
	if err != nil {
		return nil, fmt.Errorf("--max-size: %w", err)
	}
	log.Info("repository quota", "max_bytes", cfg.maxRepoSize, "used_bytes", u.Bytes, "objects", u.Objects)
	return q, nil
}
