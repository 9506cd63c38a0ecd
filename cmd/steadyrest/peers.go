package main

import (
	"fmt"
	"log/slog"

	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/proxy"
)

// peerWarning is /readyz's warning while other instances serve the same
// remote path without a shared overlay. The instance stays ready: it
// serves correctly on its own, but the operator must learn that the
// guarantee between instances is gone.
func peerWarning(peers *overlay.PeerWatch) proxy.ReadyWarning {
	return func() string { return peerText(peers.PeerInstances()) }
}

// startPeers starts second-instance detection on f's remote path, beside
// store (whose overlay id tells the instances that share it); nil with
// --heartbeat-interval 0.
func startPeers(f fs.Fs, cfg *config, store *overlay.Store, obs overlay.Observer, log *slog.Logger) (*overlay.PeerWatch, error) {
	if cfg.heartbeatInterval <= 0 {
		return nil, nil
	}
	w, err := overlay.NewPeerWatch(f, overlay.PeerOptions{
		Interval:  cfg.heartbeatInterval,
		StateDir:  cfg.stateDir,
		OverlayID: store.OverlayID,
		Observer:  obs,
		Logger:    log,
	})
	if err != nil {
		return nil, fmt.Errorf("start second-instance detection: %w", err)
	}
	w.Start()
	return w, nil
}

func peerText(n int) string {
	switch {
	case n <= 0:
		return ""
	case n == 1:
		return "1 other steadyrest instance serves this remote path without a shared overlay; the consistency guarantee does not hold between them (see the log)"
	}
	return fmt.Sprintf("%d other steadyrest instances serve this remote path without a shared overlay; the consistency guarantee does not hold between them (see the log)", n)
}
