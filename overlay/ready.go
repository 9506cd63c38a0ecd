package overlay

import (
	"context"
	"fmt"
)

// readyProbe is a name that never exists: looking it up is a cheap call
// every remote supports, answered not-found when the remote works.
const readyProbe = ".steadyrest-ready-probe"

// Ready checks that the remote answers a cheap call and the overlay can be
// written (the journal): what a readiness probe needs to know.
func (s *Store) Ready(ctx context.Context) error {
	_, err := s.stat(ctx, readyProbe)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("remote: %w", err)
	}
	if err := s.ov.ready(ctx); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}
