package cache

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
func (o *sharedOverlay) due(ctx context.Context, now time.Time, settle time.Duration) (work, error) {
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
func (o *sharedOverlay) collect(ctx context.Context, now time.Time, settle time.Duration) (work, error) {
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	settleAt, confirmAt := now.Add(-settle), now.Add(-confirmMinAge)
	queries := []struct {
		set      stateSet
		min, max string
	}{
		{setCreated, "-inf", ms(settleAt)}, // expire
		{setTombstones, "-inf", ms(settleAt)},
		{setReaps, "-inf", ms(settleAt)},
		{setConfirmed, "-inf", ms(now.Add(-retireGrace))}, // retire
		{setReapQueue, "-inf", ms(now)},                   // reaps
		{setCreated, "(" + ms(settleAt), ms(confirmAt)},   // confirm
		{setTombstones, "(" + ms(settleAt), ms(confirmAt)},
		{setDeferred, "-inf", "+inf"}, // deferred locks: few, the live ones
	}
	// The records too young to confirm count only as activity in their
	// unit (confirm.go waits for a unit to be quiet): their keys and
	// times are enough, the newest first, without fetching them.
	young := []stateSet{setCreated, setTombstones}
	cmds := make([]*redis.StringSliceCmd, len(queries))
	youngCmds := make([]*redis.ZSliceCmd, len(young))
	_, err := o.do(ctx, OverlayDue, func(ctx context.Context) error {
		_, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, q := range queries {
				cmds[i] = p.ZRangeByScore(ctx, o.k.set(q.set), &redis.ZRangeBy{Min: q.min, Max: q.max, Count: dueBatch})
			}
			for i, set := range young {
				youngCmds[i] = p.ZRevRangeByScoreWithScores(ctx, o.k.set(set), &redis.ZRangeBy{Min: "(" + ms(confirmAt), Max: "+inf", Count: dueBatch})
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
		l.add(r)
	}
	for _, c := range youngCmds {
		for _, z := range c.Val() {
			if key, ok := z.Member.(string); ok {
				l.active(key, time.UnixMilli(int64(z.Score)))
			}
		}
	}
	return l.w, nil
}
