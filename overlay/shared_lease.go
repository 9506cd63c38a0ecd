package overlay

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Leases: a per-name one orders the operations on one object across
// instances, and the background one makes its holder the leader, which
// does the background work of all.

// tryLease takes the lease lk for token if nobody holds it.
func (o *sharedRecords) tryLease(ctx context.Context, op, lk, token string) (bool, error) {
	var took bool
	_, err := o.do(ctx, op, func(ctx context.Context) error {
		var err error
		took, err = o.rdb.SetNX(ctx, lk, token, leaseTTL).Result()
		return err
	})
	return took, err
}

// lock takes key's lease, waiting while another instance (or request)
// holds it, and renews it until unlock.
func (o *sharedRecords) lock(ctx context.Context, key objectKey) (func(), error) {
	lk := o.k.lease(key.path)
	token := randomID()
	wait := time.Millisecond
	for {
		took, err := o.tryLease(ctx, SharedLock, lk, token)
		if err != nil {
			return nil, err
		}
		if took {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the lease of %s: %w", key.path, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	o.leases.Add(1)
	stop := make(chan struct{})
	o.renewers.Add(1)
	go func() {
		defer o.renewers.Done()
		o.renew(lk, token, stop)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			o.leases.Add(-1)
			o.release(lk, token)
		})
	}, nil
}

// release gives a lease up; one that cannot be released lapses at
// leaseTTL.
func (o *sharedRecords) release(lk, token string) {
	_, _ = o.do(context.Background(), SharedUnlock, func(ctx context.Context) error {
		_, err := o.runLease(ctx, releaseScript, lk, token)
		return err
	})
}

// renew keeps a held lease alive until stop. A lease found lost (Redis
// was away longer than leaseTTL) is logged: another instance may have
// taken the name meanwhile.
func (o *sharedRecords) renew(lk, token string, stop chan struct{}) {
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-o.stopRenew:
			return
		case <-t.C:
		}
		var held int
		_, err := o.do(context.Background(), SharedRenew, func(ctx context.Context) error {
			var err error
			held, err = o.runLease(ctx, renewScript, lk, token, leaseTTL.Milliseconds())
			return err
		})
		if err == nil && held == 0 {
			o.event(EventLeaseLost, 1)
			o.log.Warn("shared overlay: a lease lapsed while held (Redis was out of reach); another instance may have taken the name", "lease", lk)
			return
		}
	}
}

// lead takes or renews the background lease, and tells whether this
// instance holds it now. A leader that dies loses the lease within
// leaseTTL, and another instance takes it at its next round.
func (o *sharedRecords) lead(ctx context.Context) bool {
	var held int
	_, err := o.do(ctx, SharedLead, func(ctx context.Context) error {
		var err error
		held, err = o.runLease(ctx, takeScript, o.k.background(), o.token, leaseTTL.Milliseconds())
		return err
	})
	leads := err == nil && held != 0
	o.leader.Store(leads)
	return leads
}
