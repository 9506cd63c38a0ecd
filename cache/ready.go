package cache

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// readyProbe is a name that never exists: looking it up is a cheap call
// every remote supports, answered not-found when the remote works.
const readyProbe = ".steadyrest-ready-probe"

// Ready checks that the remote answers a cheap call and the journal can be
// written: what a readiness probe needs to know.
func (s *Store) Ready(ctx context.Context) error {
	err := s.remote(OpStat, func() error {
		_, err := s.f.NewObject(ctx, readyProbe)
		return err
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("remote: %w", err)
	}
	if s.journal != nil {
		if err := s.journal.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("probe"))
			if err != nil {
				return err
			}
			return b.Put([]byte("ready"), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
		}); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	return nil
}
