package overlay

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The records: read with plain commands, changed only by shared_set.lua.

func (o *sharedRecords) get(ctx context.Context, key objectKey) (record, bool, error) {
	hash, field := o.k.holder(key)
	var v string
	found, err := o.do(ctx, SharedGet, func(ctx context.Context) error {
		var err error
		v, err = o.rdb.HGet(ctx, hash, field).Result()
		return err
	})
	if err != nil || !found {
		return record{}, false, err
	}
	r, err := decodeRecord(key, v)
	if err != nil {
		return record{}, false, err
	}
	return r, true, nil
}

func (o *sharedRecords) create(ctx context.Context, r record, data []byte) error {
	r.obj = nil // a handle of this process means nothing to the others
	w := write{r: r, dropData: true}
	if data != nil && int64(len(data)) == r.size && r.size <= journalDataMax {
		w.data, w.dropData = data, false
	}
	// Kept before the write: a loss detected meanwhile must find it.
	o.acked.add(r, w.data)
	_, err := o.writeAll(ctx, SharedCreate, []write{w})
	if err != nil {
		o.acked.remove(r.key.path)
	}
	return err
}

func (o *sharedRecords) content(ctx context.Context, key objectKey) ([]byte, bool, error) {
	var b []byte
	found, err := o.do(ctx, SharedContent, func(ctx context.Context) error {
		var err error
		b, err = o.rdb.Get(ctx, o.k.data(key.path)).Bytes()
		return err
	})
	if err != nil || !found {
		return nil, false, err
	}
	return b, true, nil
}

// prepareDelete keeps the intent beside the records, unpublished. The
// deleting instance holds the name's lease until it publishes or cancels;
// if it dies first, the background leader finds the intent with the lease
// lapsed and publishes it as a pending reap (recoverPrepared).
func (o *sharedRecords) prepareDelete(ctx context.Context, r record) error {
	_, err := o.do(ctx, SharedPrepare, func(ctx context.Context) error {
		_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, o.k.prepared(), r.key.path, encodeRecord(r))
			p.PExpire(ctx, o.k.prepared(), o.ttl)
			return nil
		})
		return err
	})
	return err
}

func (o *sharedRecords) tombstone(ctx context.Context, r record) error {
	o.acked.remove(r.key.path)
	r.obj = nil
	_, err := o.writeAll(ctx, SharedTombstone, []write{{r: r, dropData: true, clearPrep: true}})
	return err
}

// cancelDelete drops the prepared intent: the published record was never
// changed, so prev needs no restoring.
func (o *sharedRecords) cancelDelete(ctx context.Context, key objectKey, _ *record) error {
	_, err := o.do(ctx, SharedCancel, func(ctx context.Context) error {
		return o.rdb.HDel(ctx, o.k.prepared(), key.path).Err()
	})
	return err
}

func (o *sharedRecords) apply(ctx context.Context, cs []change) ([]change, error) {
	ws := make([]write, 0, len(cs))
	next := make([]record, 0, len(cs))
	for _, c := range cs {
		r, drops := c.next(c.rec)
		w := write{expect: stampOf(c.rec), drop: drops, dropData: drops}
		r.obj = nil
		w.r = r
		ws = append(ws, w)
		next = append(next, r)
	}
	ok, err := o.writeAll(ctx, SharedApply, ws)
	if err != nil {
		return nil, err
	}
	var applied []change
	for i, c := range cs {
		if ok[i] {
			c.rec = next[i]
			applied = append(applied, c)
		}
	}
	return applied, nil
}

// fieldRead is one record's raw value read from Redis: found false when
// the record is absent.
type fieldRead struct {
	val   string
	found bool
	err   error
}

func readOf(c *redis.StringCmd) fieldRead {
	v, err := c.Result()
	if errors.Is(err, redis.Nil) {
		return fieldRead{}
	}
	return fieldRead{val: v, found: err == nil, err: err}
}

// readRecords reads the records of keys in one round trip: one HGET each,
// after a GET of the marker when withMarker, then in one transaction so
// that the records and the marker are of one moment.
func (o *sharedRecords) readRecords(ctx context.Context, keys []objectKey, withMarker bool) (marker fieldRead, recs []fieldRead, err error) {
	pipe := o.rdb.Pipelined
	if withMarker {
		pipe = o.rdb.TxPipelined
	}
	var mcmd *redis.StringCmd
	cmds := make([]*redis.StringCmd, len(keys))
	_, err = o.do(ctx, SharedFetch, func(ctx context.Context) error {
		_, err := pipe(ctx, func(p redis.Pipeliner) error {
			if withMarker {
				mcmd = p.Get(ctx, o.k.marker())
			}
			for i, k := range keys {
				hash, field := o.k.holder(k)
				cmds[i] = p.HGet(ctx, hash, field)
			}
			return nil
		})
		if errors.Is(err, redis.Nil) {
			return nil // some absent: each read says which
		}
		return err
	})
	if err != nil {
		return fieldRead{}, nil, err
	}
	if mcmd != nil {
		marker = readOf(mcmd)
	}
	recs = make([]fieldRead, len(cmds))
	for i, c := range cmds {
		recs[i] = readOf(c)
	}
	return marker, recs, nil
}

// fetch reads the records of stored keys (the state sets' members) in
// one round trip. Index entries whose record is gone (its folder's hash
// expired) are dropped.
func (o *sharedRecords) fetch(ctx context.Context, stored []string) (map[string]record, error) {
	out := map[string]record{}
	keys := make([]objectKey, 0, len(stored))
	for _, s := range stored {
		if k, ok := parseKey(s); ok {
			keys = append(keys, k)
		} else {
			o.log.Warn("shared overlay: skipping a damaged record", "err", fmt.Errorf("shared record %q: not an object path", s))
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	_, reads, err := o.readRecords(ctx, keys, false)
	if err != nil {
		return nil, err
	}
	var stale []any
	for i, rd := range reads {
		switch {
		case rd.err != nil:
			return nil, &RemoteError{Op: "shared overlay fetch", Err: rd.err}
		case !rd.found:
			stale = append(stale, keys[i].path)
			continue
		}
		r, err := decodeRecord(keys[i], rd.val)
		if err != nil {
			o.log.Warn("shared overlay: skipping a damaged record", "err", err)
			continue
		}
		out[keys[i].path] = r
	}
	if len(stale) > 0 {
		_, _ = o.do(ctx, SharedFetch, func(ctx context.Context) error {
			_, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, z := range o.k.sets() {
					p.ZRem(ctx, z, stale...)
				}
				return nil
			})
			return err
		})
	}
	return out, nil
}
