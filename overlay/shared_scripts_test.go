package overlay

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

// oldSetLua is the set script as the previous version ran it, inline in
// shared.go with positional KEYS and ARGV (ARGV[5] a KEYS position).
const oldSetLua = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '-' then
  if cur then return 0 end
elseif ARGV[2] ~= '' then
  if not cur then return 0 end
  local nl = string.find(cur, '\n', 1, true)
  if not nl or string.sub(cur, 1, nl - 1) ~= ARGV[2] then return 0 end
end
for i = 2, 7 do redis.call('ZREM', KEYS[i], ARGV[4]) end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
local idx = tonumber(ARGV[5])
if idx > 0 then redis.call('ZADD', KEYS[idx], ARGV[6], ARGV[4]) end
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[5], ARGV[7], ARGV[4]) end
if ARGV[8] == 'set' then
  redis.call('SET', KEYS[8], ARGV[9], 'PX', ARGV[10])
elseif ARGV[8] == 'del' then
  redis.call('DEL', KEYS[8])
end
if ARGV[11] == '1' then redis.call('HDEL', KEYS[9], ARGV[4]) end
for i = 1, 7 do redis.call('PEXPIRE', KEYS[i], ARGV[10]) end
return 1
`

// dumpShared is every key under o's prefix but the marker, by its name
// after the prefix, with its content and whether it expires.
func dumpShared(t *testing.T, o *sharedRecords) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := o.rdb.Keys(ctx, string(o.k)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		name := strings.TrimPrefix(k, string(o.k))
		if name == "m" {
			continue
		}
		var v string
		switch typ := o.rdb.Type(ctx, k).Val(); typ {
		case "hash":
			m := o.rdb.HGetAll(ctx, k).Val()
			for _, f := range slices.Sorted(maps.Keys(m)) {
				v += f + "=" + m[f] + ";"
			}
		case "zset":
			for _, z := range o.rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
				v += z.Member.(string) + "@" + time.UnixMilli(int64(z.Score)).UTC().String() + ";"
			}
		default:
			v = typ + ":" + o.rdb.Get(ctx, k).Val()
		}
		if o.rdb.PTTL(ctx, k).Val() > 0 {
			v += " (expires)"
		}
		out[name] = v
	}
	return out
}

// The set script in its file, with named KEYS and ARGV, leaves Redis as
// the previous inline one did, write for write: the same keys, records,
// state sets, scores, data and expiries, and the same writes applied;
// besides, each write applied to a listed folder raises its version and
// logs the name (v:<dir>, g:<dir>, which the old script did not keep).
func TestSetScriptAsBefore(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	open := func(remote string) *sharedRecords {
		o, err := openSharedRecords(srv.URL(), remote, time.Minute, slog.Default(), nopObserver{}, func(string, int) {})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.close() })
		return o
	}
	cur, old := open("new"), open("old")
	oldScript := redis.NewScript(oldSetLua)

	now := time.Now()
	lock := locksRec(created, 'a', now)
	lock.deferred = true
	plain := locksRec(created, 'b', now)
	confirmed := plain
	confirmed.confirmed = now.Add(time.Second)
	reap := locksRec(tombstone, 'c', now)
	reap.reap, reap.nextTry, reap.tries = true, now.Add(time.Minute), 1
	cfg := record{kind: created, key: keyIn("repo", "config"), size: 3, at: now}
	gone := locksRec(tombstone, 'd', now)
	gone.removedAt = now.Add(time.Second)
	steps := []write{
		{r: lock, data: make([]byte, lock.size)},
		{r: plain, dropData: true},
		{r: reap, dropData: true},
		{expect: stampOf(plain), r: confirmed},
		{expect: "c 1 0 0 0 0", r: lock}, // stamp changed: not applied
		{expect: expectAbsent, r: lock},  // a record exists: not applied
		{expect: expectAbsent, r: locksRec(created, 'e', now)},
		{expect: stampOf(reap), r: reap, drop: true, dropData: true},
		{r: cfg, data: []byte("cfg")},
		{r: gone, dropData: true, clearPrep: true},
		{expect: stampOf(lock), r: lock, drop: true, dropData: true},
	}
	for _, o := range []*sharedRecords{cur, old} {
		if err := o.prepareDelete(ctx, gone); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range steps {
		got, err := cur.writeAll(ctx, SharedApply, []write{w})
		if err != nil {
			t.Fatal(err)
		}
		keys, argv := old.args(w)
		if set := argv[4].(int); set > 0 {
			argv[4] = set + 1 // the old script took the set's KEYS position
		}
		want, err := oldScript.Run(ctx, old.rdb, keys, argv...).Int()
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != (want == 1) {
			t.Errorf("step %d: applied %v, the old script %v", i, got[0], want == 1)
		}
		a, b := dumpShared(t, cur), dumpShared(t, old)
		maps.DeleteFunc(a, func(k, _ string) bool { return strings.HasPrefix(k, "v:") || strings.HasPrefix(k, "g:") })
		if !maps.Equal(a, b) {
			t.Fatalf("step %d: Redis holds\n%v\nthe old script left\n%v", i, a, b)
		}
	}
	if len(dumpShared(t, cur)) < 5 {
		t.Errorf("the steps left too little to compare: %v", dumpShared(t, cur))
	}
	// Eight writes applied to repo/locks, one to the config (no folder).
	logged := cur.rdb.ZRange(ctx, cur.k.changes("repo/locks"), 0, -1).Val()
	if want := []string{name('a'), name('b'), name('c'), name('d'), name('e')}; !slices.Equal(slices.Sorted(slices.Values(logged)), want) {
		t.Errorf("changes of repo/locks %q, want %q", logged, want)
	}
	if v := cur.rdb.HGet(ctx, cur.k.version("repo/locks"), "v").Val(); v == "" {
		t.Error("repo/locks has no version after its writes")
	}
	if n := cur.rdb.Exists(ctx, cur.k.version("repo"), cur.k.changes("repo")).Val(); n != 0 {
		t.Error("a config write kept a folder version: config records are listed in no folder")
	}
}
