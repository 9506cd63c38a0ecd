package overlay

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// due hands the background work to one instance: the holder of the
// background lease gets it all (so N instances make the remote calls of
// one), the others get none.
//
// While Redis is out of reach there is no work, and no error: do logged
// the outage once, and a round's warning would repeat it every tick.
func (o *sharedRecords) due(ctx context.Context, now time.Time, settle time.Duration) (work, error) {
	if err := o.checkMarker(ctx); err != nil {
		o.leader.Store(false)
		return work{}, nil
	}
	o.settleAcked(ctx)
	if !o.lead(ctx) {
		return work{}, nil
	}
	if err := o.recoverPrepared(ctx, now); err != nil {
		o.log.Warn("shared overlay: could not recover prepared deletes", "err", err)
	}
	return o.collect(ctx, now, settle)
}

// collect reads the records the state sets say may call for work at now,
// and lets the rule (dutyOf) decide what each does call for.
func (o *sharedRecords) collect(ctx context.Context, now time.Time, settle time.Duration) (work, error) {
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	settleAt := now.Add(-settle)
	queries := []struct {
		set      stateSet
		min, max string
		confirm  bool // the records awaiting confirmation, whose times pace it
	}{
		{setCreated, "-inf", ms(settleAt), false}, // expire
		{setTombstones, "-inf", ms(settleAt), false},
		{setReaps, "-inf", ms(settleAt), false},
		{setConfirmed, "-inf", ms(now.Add(-retireGrace)), false}, // retire
		{setReapQueue, "-inf", ms(now), false},                   // reaps
		{setCreated, "(" + ms(settleAt), "+inf", true},           // confirm (the pacing picks when)
		{setTombstones, "(" + ms(settleAt), "+inf", true},
		{setDeferred, "-inf", "+inf", false}, // deferred locks: few, the live ones
	}
	cmds := make([]*redis.StringSliceCmd, len(queries))
	_, err := o.do(ctx, SharedDue, func(ctx context.Context) error {
		_, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, q := range queries {
				cmds[i] = p.ZRangeByScore(ctx, o.k.set(q.set), &redis.ZRangeBy{Min: q.min, Max: q.max, Count: int64(o.batch)})
			}
			return nil
		})
		return err
	})
	if err != nil {
		return work{}, err
	}
	var keys []string
	for _, c := range cmds {
		keys = append(keys, c.Val()...)
	}
	recs, err := o.fetch(ctx, keys)
	if err != nil {
		return work{}, err
	}
	l := newWorkList(now, settle)
	for _, r := range recs {
		l.add(&r)
	}
	// A confirm query cut at the batch read the oldest records of its set:
	// the newer ones, a burst still going on (a prune's deletes), would
	// make every unit look quiet and be proven in rounds during it.
	for i, q := range queries {
		if !q.confirm || len(cmds[i].Val()) < o.batch {
			continue
		}
		newest, err := o.newestIn(ctx, q.set)
		if err != nil {
			return work{}, err
		}
		l.unread(newest)
	}
	return l.w, nil
}

// newestIn is the newest score (a record's time) in set.
func (o *sharedRecords) newestIn(ctx context.Context, set stateSet) (time.Time, error) {
	var zs []redis.Z
	_, err := o.do(ctx, SharedDue, func(ctx context.Context) error {
		var err error
		zs, err = o.rdb.ZRevRangeByScoreWithScores(ctx, o.k.set(set), &redis.ZRangeBy{Min: "-inf", Max: "+inf", Count: 1}).Result()
		return err
	})
	if err != nil || len(zs) == 0 {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(zs[0].Score)), nil
}
