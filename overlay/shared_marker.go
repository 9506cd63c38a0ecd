package overlay

import (
	"context"
	"time"
)

// The marker tells a Redis that lost its data from one that kept it, and
// recovery publishes what instances that died could not.

// id is the marker's id: equal for every instance sharing these records.
func (o *sharedRecords) id() string {
	if m := o.marker.Load(); m != nil {
		return *m
	}
	return ""
}

// checkMarker reads the marker, creating it the first time. A marker that
// vanished or changed means Redis lost the records (a restart without
// persistence, a flush, a failover to an empty replica): the guarantee
// lapsed for the writes of the last settle window, which is logged and
// counted.
func (o *sharedRecords) checkMarker(ctx context.Context) error {
	key := o.k.marker()
	var id string
	_, err := o.do(ctx, SharedMarker, func(ctx context.Context) error {
		if err := o.rdb.SetNX(ctx, key, randomID(), 0).Err(); err != nil {
			return err
		}
		var err error
		id, err = o.rdb.Get(ctx, key).Result()
		return err
	})
	if err != nil {
		return err
	}
	if prev := o.marker.Swap(&id); prev != nil && *prev != id {
		o.event(EventSharedLost, 1)
		o.log.Error("shared overlay: Redis lost its records (restarted without persistence, flushed, or failed over to an empty replica); writes and deletes of the last settle window may show wrongly until the remote catches up, but for the locks each running instance acknowledged, which it publishes again",
			"marker_was", *prev, "marker_now", id)
		o.republishAcked(ctx)
	}
	return nil
}

// recoverPrepared publishes the prepared deletes of instances that died
// before publishing them: an intent whose name's lease is free (its holder
// released or lost it) and that is still prepared becomes a pending reap,
// unless a newer record of the name exists.
func (o *sharedRecords) recoverPrepared(ctx context.Context, now time.Time) error {
	var prepared map[string]string
	_, err := o.do(ctx, SharedRecover, func(ctx context.Context) error {
		var err error
		prepared, err = o.rdb.HGetAll(ctx, o.k.prepared()).Result()
		return err
	})
	if err != nil {
		return err
	}
	for key, val := range prepared {
		k, ok := parseKey(key)
		if !ok {
			continue // not an object's: nothing to publish
		}
		ts, err := decodeRecord(k, val)
		if err != nil || now.Sub(ts.at) < leaseTTL {
			continue // a live holder publishes it in time
		}
		if err := o.recoverOne(ctx, ts); err != nil {
			return err
		}
	}
	return nil
}

func (o *sharedRecords) recoverOne(ctx context.Context, ts record) error {
	key := ts.key
	lk := o.k.lease(key.path)
	took, err := o.tryLease(ctx, SharedRecover, lk, o.token)
	if err != nil || !took {
		return err // held: the deleting instance is alive
	}
	defer o.release(lk, o.token)
	cur, had, err := o.get(ctx, key)
	if err != nil {
		return err
	}
	w := write{r: ts, dropData: true, clearPrep: true}
	if had && cur.at.After(ts.at) {
		w.expect, w.r = stampOf(cur), cur // keep the newer record, drop the intent
	}
	if _, err := o.writeAll(ctx, SharedRecover, []write{w}); err != nil {
		return err
	}
	if !had || !cur.at.After(ts.at) {
		o.log.Warn("shared overlay: published the delete of an instance that stopped before it could", "object", key.path)
	}
	return nil
}
