package main

import (
	"fmt"

	"github.com/steadyrest/steadyrest/cache"
	"github.com/steadyrest/steadyrest/proxy"
)

// peerWarning is /readyz's warning while other instances serve the same
// remote path without a shared overlay. The instance stays ready: it
// serves correctly on its own, but the operator must learn that the
// guarantee between instances is gone.
func peerWarning(store *cache.Store) proxy.ReadyWarning {
	return func() string { return peerText(store.PeerInstances()) }
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
