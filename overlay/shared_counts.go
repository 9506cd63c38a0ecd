package overlay

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// countedSets are the state sets counts reads, each counted as its class.
var countedSets = []stateSet{setCreated, setTombstones, setReaps, setDeferred}

// counts reads the state sets' sizes, and the oldest pending reap; while
// Redis is away it answers the counts it read last.
func (o *sharedRecords) counts() counts {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	sizes := make([]*redis.IntCmd, len(countedSets))
	var oldest *redis.ZSliceCmd
	_, err := o.do(ctx, SharedCounts, func(ctx context.Context) error {
		_, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range countedSets {
				sizes[i] = p.ZCard(ctx, o.k.set(s))
			}
			oldest = p.ZRangeWithScores(ctx, o.k.set(setReaps), 0, 0)
			return nil
		})
		return err
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		return o.last
	}
	var c counts
	for i, s := range countedSets {
		at := time.Time{}
		if zs := oldest.Val(); s == setReaps && len(zs) > 0 {
			at = time.UnixMilli(int64(zs[0].Score))
		}
		c.add(s.class(), int(sizes[i].Val()), at)
	}
	o.last = c
	return c
}

// countsByRepo reads every member of the state sets, by repository.
func (o *sharedRecords) countsByRepo() map[string]counts {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	members := make([]*redis.ZSliceCmd, len(countedSets))
	_, err := o.do(ctx, SharedCounts, func(ctx context.Context) error {
		_, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range countedSets {
				members[i] = p.ZRangeWithScores(ctx, o.k.set(s), 0, -1)
			}
			return nil
		})
		return err
	})
	by := map[string]counts{}
	if err != nil {
		return by
	}
	for i, s := range countedSets {
		for _, z := range members[i].Val() {
			key, _ := z.Member.(string) // go-redis gives ZRANGE members as strings
			k, ok := parseKey(key)
			if !ok {
				continue
			}
			repo := k.repo()
			n := by[repo]
			n.add(s.class(), 1, time.UnixMilli(int64(z.Score)))
			by[repo] = n
		}
	}
	return by
}
