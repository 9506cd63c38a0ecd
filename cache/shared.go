package cache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// sharedOverlay is the recordStore of several instances: the records live
// in Redis (or a protocol-compatible server such as Valkey), so that a
// write or delete through one instance is seen through every other one at
// once. Nothing of the contract is kept in this process; every read asks
// Redis, and every change is one Lua script, atomic on the server, never a
// read-modify-write from Go.
//
// Layout, under one prefix per remote ("steadyrest:{<hash of the remote>}:",
// one hash slot, so a cluster keeps a remote's keys together):
//
//	d:<dir>   hash: name -> record, the records of one listed folder
//	c         hash: key -> record, config records (no listed folder)
//	p         hash: key -> tombstone, deletes prepared and not yet published
//	b:<key>   string: the bytes of a small upload
//	z:pc z:pt z:pr   sorted sets of pending created records, tombstones,
//	          and pending reaps, by acknowledgement time
//	z:rq      pending reaps by their next attempt
//	z:up      deferred locks (write-behind) by acknowledgement time
//	z:cf      confirmed records by confirmation time
//	l:<key>   per-name lease (lock)
//	bg        the background lease: its holder reaps and confirms
//	m         the marker: a random id whose disappearance means Redis lost
//	          its data
//
// Every key but the marker expires sharedTTL after its last write, the
// longest a record can live, so Redis never grows without bound even when
// every instance is gone.
type sharedOverlay struct {
	rdb    redis.UniversalClient
	p      string // key prefix
	ttl    time.Duration
	token  string // this instance's lease token
	log    *slog.Logger
	obs    Observer
	event  func(name string, n int)
	marker atomic.Pointer[string] // the marker id seen last
	acked  *ackedLocks            // locks acknowledged here, kept until confirmed (ackedlocks.go)

	leader atomic.Bool  // holds the background lease
	down   atomic.Bool  // the last call to Redis failed
	leases atomic.Int64 // per-name leases held now

	mu   sync.Mutex
	last counts // the counts last read, answered while Redis is away

	stopRenew chan struct{}
	renewers  sync.WaitGroup
	closeOnce sync.Once
}

var _ recordStore = (*sharedOverlay)(nil)

const (
	// leaseTTL is how long a lease outlives a holder that died; a live
	// holder renews it every leaseTTL/3.
	leaseTTL = 15 * time.Second
	// sharedOpTimeout bounds one call to Redis when the caller's context
	// does not: a request waits at most this long before its 503.
	sharedOpTimeout = 5 * time.Second
	// dueBatch bounds how many records of one state a background round
	// reads; the rest waits for the next round.
	dueBatch = 10000
)

// openSharedOverlay connects to the Redis at rawURL (redis://, rediss://
// or unix://) for the records of the remote named remote. It does not
// fail when Redis is unreachable: the requests that need it answer 503,
// and /readyz says why, until it answers.
func openSharedOverlay(rawURL, remote string, settle time.Duration, log *slog.Logger, obs Observer, event func(string, int)) (*sharedOverlay, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("overlay URL: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	opt.MaxRetries = 1
	quietRedisLog.Do(func() { redis.SetLogger(redisLog{}) })
	sum := sha256.Sum256([]byte(remote))
	o := &sharedOverlay{
		rdb:       redis.NewClient(opt),
		p:         "steadyrest:{" + hex.EncodeToString(sum[:8]) + "}:",
		ttl:       settle + retireGrace + time.Minute,
		token:     randomID(),
		log:       log,
		obs:       obs,
		event:     event,
		acked:     newAckedLocks(),
		stopRenew: make(chan struct{}),
	}
	checkRedis(o.rdb, opt, log)
	ctx, cancel := context.WithTimeout(context.Background(), sharedOpTimeout)
	defer cancel()
	_ = o.checkMarker(ctx) // unreachable: do logged it, and every round tries again
	return o, nil
}

// quietRedisLog sets the client's process-wide logger once: its own lines
// (a failed dial per retry) would repeat what do logs once per outage.
var quietRedisLog sync.Once

// redisLog passes the Redis client's logs to slog at debug level.
type redisLog struct{}

func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// id is the marker's id: equal for every instance sharing these records.
func (o *sharedOverlay) id() string {
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
func (o *sharedOverlay) checkMarker(ctx context.Context) error {
	key := o.p + "m"
	cur, err := o.do(ctx, OverlayMarker, func(ctx context.Context) (any, error) {
		if err := o.rdb.SetNX(ctx, key, randomID(), 0).Err(); err != nil {
			return nil, err
		}
		return o.rdb.Get(ctx, key).Result()
	})
	if err != nil {
		return err
	}
	id := cur.(string)
	if prev := o.marker.Swap(&id); prev != nil && *prev != id {
		o.event(EventOverlayLost, 1)
		o.log.Error("shared overlay: Redis lost its records (restarted without persistence, flushed, or failed over to an empty replica); writes and deletes of the last settle window may show wrongly until the remote catches up, but for the locks each running instance acknowledged, which it publishes again",
			"marker_was", *prev, "marker_now", id)
		o.republishAcked(ctx)
	}
	return nil
}

// do runs one call to Redis, bounded in time and reported to the Observer.
// Its error is a *RemoteError: Redis out of reach may heal, so the request
// answers 503 and restic retries.
func (o *sharedOverlay) do(ctx context.Context, op string, fn func(context.Context) (any, error)) (any, error) {
	caller := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sharedOpTimeout)
		defer cancel()
	}
	start := time.Now()
	v, err := fn(ctx)
	if errors.Is(err, redis.Nil) {
		v, err = nil, nil
	}
	result := ResultOK
	if err != nil {
		result = ResultError
	}
	o.obs.OverlayOp(op, result, time.Since(start))
	if err != nil {
		// A caller that gave up (a client gone, a shutdown) says nothing
		// of Redis, nor does a client closed at shutdown.
		if caller.Err() == nil && !errors.Is(err, redis.ErrClosed) && !o.down.Swap(true) {
			o.log.Error("shared overlay: Redis is out of reach; requests that need the overlay answer 503 until it returns", "op", op, "err", err)
		}
		return nil, &RemoteError{Op: "shared overlay " + op, Err: fmt.Errorf("%w: %w", ErrOverlayUnavailable, err)}
	}
	if o.down.Swap(false) {
		o.log.Info("shared overlay: Redis answers again")
	}
	return v, nil
}

// Keys.

func (o *sharedOverlay) holderOf(key string) (hash, field string) {
	dir, name, _ := splitKey(key)
	if (record{dir: dir, name: name}).isConfig() {
		return o.p + "c", key
	}
	return o.p + "d:" + dir, name
}

func (o *sharedOverlay) zkeys() []string {
	return []string{o.p + "z:pc", o.p + "z:pt", o.p + "z:pr", o.p + "z:rq", o.p + "z:cf", o.p + "z:up"}
}

// Record encoding: "<kind> <at> <reap> <removedAt> <confirmed>
// <deferred>\n<size> <nextReap> <reapTries>". The first line is the
// record's stamp: what unchanged compares, which the scripts compare as a
// string.

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func stampOf(r record) string {
	k := "c"
	if r.kind == tombstone {
		k = "t"
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	return k + " " + strconv.FormatInt(nanos(r.at), 10) + " " + flag(r.reap) + " " +
		strconv.FormatInt(nanos(r.removedAt), 10) + " " + strconv.FormatInt(nanos(r.confirmed), 10) + " " + flag(r.deferred)
}

func encodeRecord(r record) string {
	return stampOf(r) + "\n" + strconv.FormatInt(r.size, 10) + " " +
		strconv.FormatInt(nanos(r.nextReap), 10) + " " + strconv.Itoa(r.reapTries)
}

func decodeRecord(key, v string) (record, error) {
	dir, name, ok := splitKey(key)
	if !ok {
		return record{}, fmt.Errorf("shared record %q: not an object path", key)
	}
	f := strings.Fields(strings.Replace(v, "\n", " ", 1))
	if len(f) != 9 {
		return record{}, fmt.Errorf("shared record %q is damaged: %q", key, v)
	}
	var n [6]int64
	for i, s := range []string{f[1], f[3], f[4], f[6], f[7], f[8]} {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return record{}, fmt.Errorf("shared record %q is damaged: %w", key, err)
		}
		n[i] = x
	}
	r := record{key: key, dir: dir, name: name, at: fromNanos(n[0]), reap: f[2] == "1", deferred: f[5] == "1",
		removedAt: fromNanos(n[1]), confirmed: fromNanos(n[2]), size: n[3], nextReap: fromNanos(n[4]), reapTries: int(n[5])}
	switch f[0] {
	case "c":
		r.kind = created
	case "t":
		r.kind = tombstone
	default:
		return record{}, fmt.Errorf("shared record %q: unknown kind %q", key, f[0])
	}
	return r, nil
}

// setScript replaces (or drops) one record if its stamp is still the one
// the caller saw, and moves it between the state indexes, atomically.
//
// KEYS: hash, z:pc, z:pt, z:pr, z:rq, z:cf, z:up, data key, prepared hash.
// ARGV: field, expected stamp ("" for any, expectAbsent for none), value ("" drops), member
// (the key), index (0 none, else the KEYS position of the state set),
// score, reap-queue score ("" none), data mode ("keep", "set", "del"),
// data, ttl in ms, "1" to clear a prepared delete.
var setScript = redis.NewScript(`
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
`)

// expectAbsent as a write's expect makes it apply only where key has no
// record.
const expectAbsent = "-"

// write is one setScript call: r replaces key's record (drop: removes
// it) if the current one still has stamp expect ("" for any).
type write struct {
	key       string
	expect    string
	r         record
	drop      bool
	data      []byte // set with the record
	dropData  bool
	clearPrep bool
}

func (o *sharedOverlay) args(w write) (keys []string, argv []any) {
	hash, field := o.holderOf(w.key)
	keys = append([]string{hash}, o.zkeys()...)
	keys = append(keys, o.p+"b:"+w.key, o.p+"p")
	value, idx, score, rq := "", 0, int64(0), ""
	if !w.drop {
		r := w.r
		value = encodeRecord(r)
		switch {
		case r.deferred:
			idx, score = 7, r.at.UnixMilli()
		case !r.pending():
			idx, score = 6, r.confirmed.UnixMilli()
		case r.kind == created:
			idx, score = 2, r.at.UnixMilli()
		case r.reap:
			idx, score = 4, r.at.UnixMilli()
			rq = strconv.FormatInt(r.nextReap.UnixMilli(), 10)
		default:
			idx, score = 3, r.at.UnixMilli()
		}
	}
	mode := "keep"
	switch {
	case w.data != nil:
		mode = "set"
	case w.dropData:
		mode = "del"
	}
	clear := "0"
	if w.clearPrep {
		clear = "1"
	}
	argv = []any{field, w.expect, value, w.key, idx, score, rq, mode, w.data, o.ttl.Milliseconds(), clear}
	return keys, argv
}

// writeAll runs the writes in one round trip and reports which applied.
func (o *sharedOverlay) writeAll(ctx context.Context, op string, ws []write) ([]bool, error) {
	run := func(ctx context.Context) ([]redis.Cmder, error) {
		return o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, w := range ws {
				keys, argv := o.args(w)
				setScript.EvalSha(ctx, p, keys, argv...)
			}
			return nil
		})
	}
	v, err := o.do(ctx, op, func(ctx context.Context) (any, error) {
		cmds, err := run(ctx)
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis restarted and forgot the script: none of the calls
			// ran (the script cache is global), so load it and run again.
			if err := setScript.Load(ctx, o.rdb).Err(); err != nil {
				return nil, err
			}
			cmds, err = run(ctx)
		}
		if err != nil {
			return nil, err
		}
		ok := make([]bool, len(cmds))
		for i, c := range cmds {
			n, err := c.(*redis.Cmd).Int()
			if err != nil {
				return nil, err
			}
			ok[i] = n == 1
		}
		return ok, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]bool), nil
}

// Leases.

var (
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
	// takeScript renews the lease when this token holds it, else takes
	// it when nobody does.
	takeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
return 0`)
)

// lock takes key's lease, waiting while another instance (or request)
// holds it, and renews it until unlock.
func (o *sharedOverlay) lock(ctx context.Context, key string) (func(), error) {
	lk := o.p + "l:" + key
	token := randomID()
	wait := time.Millisecond
	for {
		v, err := o.do(ctx, OverlayLock, func(ctx context.Context) (any, error) {
			return o.rdb.SetNX(ctx, lk, token, leaseTTL).Result()
		})
		if err != nil {
			return nil, err
		}
		if v.(bool) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the lease of %s: %w", key, ctx.Err())
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
func (o *sharedOverlay) release(lk, token string) {
	_, _ = o.do(context.Background(), OverlayUnlock, func(ctx context.Context) (any, error) {
		return releaseScript.Run(ctx, o.rdb, []string{lk}, token).Result()
	})
}

// renew keeps a held lease alive until stop. A lease found lost (Redis
// was away longer than leaseTTL) is logged: another instance may have
// taken the name meanwhile.
func (o *sharedOverlay) renew(lk, token string, stop chan struct{}) {
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
		v, err := o.do(context.Background(), OverlayRenew, func(ctx context.Context) (any, error) {
			return renewScript.Run(ctx, o.rdb, []string{lk}, token, leaseTTL.Milliseconds()).Int()
		})
		if err == nil && v.(int) == 0 {
			o.event(EventLeaseLost, 1)
			o.log.Warn("shared overlay: a lease lapsed while held (Redis was out of reach); another instance may have taken the name", "lease", lk)
			return
		}
	}
}

// Records.

func (o *sharedOverlay) get(ctx context.Context, key string) (record, bool, error) {
	hash, field := o.holderOf(key)
	v, err := o.do(ctx, OverlayGet, func(ctx context.Context) (any, error) {
		return o.rdb.HGet(ctx, hash, field).Result()
	})
	if err != nil || v == nil {
		return record{}, false, err
	}
	r, err := decodeRecord(key, v.(string))
	if err != nil {
		return record{}, false, err
	}
	return r, true, nil
}

func (o *sharedOverlay) create(ctx context.Context, r record, data []byte) error {
	r.obj = nil // a handle of this process means nothing to the others
	w := write{key: r.key, r: r, dropData: true}
	if data != nil && int64(len(data)) == r.size && r.size <= journalDataMax {
		w.data, w.dropData = data, false
	}
	// Kept before the write: a loss detected meanwhile must find it.
	o.acked.add(r, w.data)
	_, err := o.writeAll(ctx, OverlayCreate, []write{w})
	if err != nil {
		o.acked.remove(r.key)
	}
	return err
}

func (o *sharedOverlay) content(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := o.do(ctx, OverlayContent, func(ctx context.Context) (any, error) {
		return o.rdb.Get(ctx, o.p+"b:"+key).Bytes()
	})
	if err != nil || v == nil {
		return nil, false, err
	}
	return v.([]byte), true, nil
}

// prepareDelete keeps the intent beside the records, unpublished. The
// deleting instance holds the name's lease until it publishes or cancels;
// if it dies first, the background leader finds the intent with the lease
// lapsed and publishes it as a pending reap (recoverPrepared).
func (o *sharedOverlay) prepareDelete(ctx context.Context, r record) error {
	_, err := o.do(ctx, OverlayPrepare, func(ctx context.Context) (any, error) {
		_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, o.p+"p", r.key, encodeRecord(r))
			p.PExpire(ctx, o.p+"p", o.ttl)
			return nil
		})
		return nil, err
	})
	return err
}

func (o *sharedOverlay) tombstone(ctx context.Context, r record) error {
	o.acked.remove(r.key)
	r.obj = nil
	_, err := o.writeAll(ctx, OverlayPublish, []write{{key: r.key, r: r, dropData: true, clearPrep: true}})
	return err
}

// cancelDelete drops the prepared intent: the published record was never
// changed, so prev needs no restoring.
func (o *sharedOverlay) cancelDelete(ctx context.Context, key string, _ *record) error {
	_, err := o.do(ctx, OverlayCancel, func(ctx context.Context) (any, error) {
		return nil, o.rdb.HDel(ctx, o.p+"p", key).Err()
	})
	return err
}

func (o *sharedOverlay) viewDir(ctx context.Context, dir string, fn func(dirRecords)) error {
	v, err := o.do(ctx, OverlayView, func(ctx context.Context) (any, error) {
		return o.rdb.HGetAll(ctx, o.p+"d:"+dir).Result()
	})
	if err != nil {
		return err
	}
	m := newRecordMap()
	if v != nil {
		data := isDataDir(dir)
		for name, val := range v.(map[string]string) {
			key := dir + "/" + name
			if data && len(name) > 2 {
				key = dir + "/" + name[:2] + "/" + name // the prefix folder
			}
			r, err := decodeRecord(key, val)
			if err != nil {
				return err
			}
			m.recs[name] = r
		}
	}
	fn(m)
	return nil
}

func (o *sharedOverlay) apply(ctx context.Context, cs []change) ([]change, error) {
	ws := make([]write, 0, len(cs))
	next := make([]record, 0, len(cs))
	for _, c := range cs {
		r, drops := c.next(c.rec)
		w := write{key: r.key, expect: stampOf(c.rec), drop: drops, dropData: drops}
		r.obj = nil
		w.r = r
		ws = append(ws, w)
		next = append(next, r)
	}
	ok, err := o.writeAll(ctx, OverlayApply, ws)
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

// due hands the background work to one instance: the holder of the
// background lease gets it all (so N instances make the remote calls of
// one), the others get none. A leader that dies loses the lease within
// leaseTTL, and another instance takes it at its next round.
//
// While Redis is out of reach there is no work, and no error: do logged
// the outage once, and a round's warning would repeat it every tick.
func (o *sharedOverlay) due(ctx context.Context, now time.Time, settle time.Duration) (work, error) {
	if err := o.checkMarker(ctx); err != nil {
		o.leader.Store(false)
		return work{}, nil
	}
	o.settleAcked(ctx)
	v, err := o.do(ctx, OverlayLead, func(ctx context.Context) (any, error) {
		return takeScript.Run(ctx, o.rdb, []string{o.p + "bg"}, o.token, leaseTTL.Milliseconds()).Int()
	})
	if err != nil {
		o.leader.Store(false)
		return work{}, nil
	}
	if v.(int) == 0 {
		o.leader.Store(false)
		return work{}, nil
	}
	o.leader.Store(true)
	if err := o.recoverPrepared(ctx, now); err != nil {
		o.log.Warn("shared overlay: could not recover prepared deletes", "err", err)
	}
	return o.collect(ctx, now, settle)
}

// collect reads the records whose state calls for work at now.
func (o *sharedOverlay) collect(ctx context.Context, now time.Time, settle time.Duration) (work, error) {
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	z := o.zkeys()
	type query struct {
		set, min, max string
	}
	settleAt, confirmAt := now.Add(-settle), now.Add(-confirmMinAge)
	queries := []query{
		{z[0], "-inf", ms(settleAt)}, {z[1], "-inf", ms(settleAt)}, {z[2], "-inf", ms(settleAt)}, // expire
		{z[4], "-inf", ms(now.Add(-retireGrace))}, // retire
		{z[3], "-inf", ms(now)},                   // reaps
		{z[0], "(" + ms(settleAt), ms(confirmAt)}, // confirm created
		{z[1], "(" + ms(settleAt), ms(confirmAt)}, // confirm tombstones
		{z[5], "-inf", "+inf"},                    // deferred locks: few, the live ones
	}
	v, err := o.do(ctx, OverlayDue, func(ctx context.Context) (any, error) {
		cmds, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, q := range queries {
				p.ZRangeByScore(ctx, q.set, &redis.ZRangeBy{Min: q.min, Max: q.max, Count: dueBatch})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out := make([][]string, len(cmds))
		for i, c := range cmds {
			out[i] = c.(*redis.StringSliceCmd).Val()
		}
		return out, nil
	})
	if err != nil {
		return work{}, err
	}
	lists := v.([][]string)
	var all []string
	for _, l := range lists {
		all = append(all, l...)
	}
	recs, err := o.fetch(ctx, all)
	if err != nil {
		return work{}, err
	}
	var w work
	pick := func(keys []string, fn func(record)) {
		for _, k := range keys {
			if r, ok := recs[k]; ok {
				fn(r)
			}
		}
	}
	for _, l := range lists[:3] {
		pick(l, func(r record) {
			if r.pending() && now.Sub(r.at) > settle {
				w.expire = append(w.expire, r)
			}
		})
	}
	pick(lists[3], func(r record) {
		if !r.pending() && now.Sub(r.confirmed) > retireGrace {
			w.retire = append(w.retire, r)
		}
	})
	pick(lists[4], func(r record) {
		if r.pending() && r.reapDue(now) {
			w.reaps = append(w.reaps, r)
		}
	})
	pick(lists[7], func(r record) {
		if r.deferred {
			w.uploads = append(w.uploads, r)
		}
	})
	dirs := map[string]bool{}
	for _, l := range lists[5:7] {
		pick(l, func(r record) {
			switch {
			case !r.confirmable(now):
			case r.isConfig():
				w.configs = append(w.configs, r)
			case isDataDir(r.dir):
				w.data = append(w.data, r)
			case !dirs[r.dir]:
				dirs[r.dir] = true
				w.dirs = append(w.dirs, r.dir)
			}
		})
	}
	return w, nil
}

// readRecords reads the records of keys in one round trip: one HGET each,
// after a GET of the marker when withMarker, then in one transaction so
// that the records and the marker are of one moment.
func (o *sharedOverlay) readRecords(ctx context.Context, keys []string, withMarker bool) ([]redis.Cmder, error) {
	pipe := o.rdb.Pipelined
	if withMarker {
		pipe = o.rdb.TxPipelined
	}
	v, err := o.do(ctx, OverlayFetch, func(ctx context.Context) (any, error) {
		cmds, err := pipe(ctx, func(p redis.Pipeliner) error {
			if withMarker {
				p.Get(ctx, o.p+"m")
			}
			for _, k := range keys {
				hash, field := o.holderOf(k)
				p.HGet(ctx, hash, field)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		return cmds, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]redis.Cmder), nil
}

// fetch reads the records of keys in one round trip. Index entries whose
// record is gone (its folder's hash expired) are dropped.
func (o *sharedOverlay) fetch(ctx context.Context, keys []string) (map[string]record, error) {
	out := map[string]record{}
	if len(keys) == 0 {
		return out, nil
	}
	cmds, err := o.readRecords(ctx, keys, false)
	if err != nil {
		return nil, err
	}
	var stale []string
	for i, c := range cmds {
		val, err := c.(*redis.StringCmd).Result()
		if errors.Is(err, redis.Nil) {
			stale = append(stale, keys[i])
			continue
		}
		if err != nil {
			return nil, &RemoteError{Op: "shared overlay fetch", Err: err}
		}
		r, err := decodeRecord(keys[i], val)
		if err != nil {
			o.log.Warn("shared overlay: skipping a damaged record", "err", err)
			continue
		}
		out[keys[i]] = r
	}
	if len(stale) > 0 {
		members := make([]any, len(stale))
		for i, k := range stale {
			members[i] = k
		}
		_, _ = o.do(ctx, OverlayFetch, func(ctx context.Context) (any, error) {
			_, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, z := range o.zkeys() {
					p.ZRem(ctx, z, members...)
				}
				return nil
			})
			return nil, err
		})
	}
	return out, nil
}

// recoverPrepared publishes the prepared deletes of instances that died
// before publishing them: an intent whose name's lease is free (its holder
// released or lost it) and that is still prepared becomes a pending reap,
// unless a newer record of the name exists.
func (o *sharedOverlay) recoverPrepared(ctx context.Context, now time.Time) error {
	v, err := o.do(ctx, OverlayRecover, func(ctx context.Context) (any, error) {
		return o.rdb.HGetAll(ctx, o.p+"p").Result()
	})
	if err != nil || v == nil {
		return err
	}
	for key, val := range v.(map[string]string) {
		ts, err := decodeRecord(key, val)
		if err != nil || now.Sub(ts.at) < leaseTTL {
			continue // a live holder publishes it in time
		}
		if err := o.recoverOne(ctx, key, ts); err != nil {
			return err
		}
	}
	return nil
}

func (o *sharedOverlay) recoverOne(ctx context.Context, key string, ts record) error {
	lk := o.p + "l:" + key
	v, err := o.do(ctx, OverlayRecover, func(ctx context.Context) (any, error) {
		return o.rdb.SetNX(ctx, lk, o.token, leaseTTL).Result()
	})
	if err != nil || !v.(bool) {
		return err // held: the deleting instance is alive
	}
	defer o.release(lk, o.token)
	cur, had, err := o.get(ctx, key)
	if err != nil {
		return err
	}
	w := write{key: key, r: ts, dropData: true, clearPrep: true}
	if had && cur.at.After(ts.at) {
		w.expect, w.r = stampOf(cur), cur // keep the newer record, drop the intent
	}
	if _, err := o.writeAll(ctx, OverlayRecover, []write{w}); err != nil {
		return err
	}
	if !had || !cur.at.After(ts.at) {
		o.log.Warn("shared overlay: published the delete of an instance that stopped before it could", "object", key)
	}
	return nil
}

func (o *sharedOverlay) counts() counts {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	z := o.zkeys()
	v, err := o.do(ctx, OverlayCounts, func(ctx context.Context) (any, error) {
		cmds, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.ZCard(ctx, z[0])
			p.ZCard(ctx, z[1])
			p.ZCard(ctx, z[2])
			p.ZRangeWithScores(ctx, z[2], 0, 0)
			p.ZCard(ctx, z[5])
			return nil
		})
		if err != nil {
			return nil, err
		}
		c := counts{
			created:    int(cmds[0].(*redis.IntCmd).Val() + cmds[4].(*redis.IntCmd).Val()),
			tombstones: int(cmds[1].(*redis.IntCmd).Val()),
			reaps:      int(cmds[2].(*redis.IntCmd).Val()),
		}
		if zs := cmds[3].(*redis.ZSliceCmd).Val(); len(zs) > 0 {
			c.oldestReap = time.UnixMilli(int64(zs[0].Score))
		}
		return c, nil
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		o.last = v.(counts)
	}
	return o.last
}

func (o *sharedOverlay) countsByRepo() map[string]counts {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	z := o.zkeys()
	v, err := o.do(ctx, OverlayCounts, func(ctx context.Context) (any, error) {
		cmds, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range []string{z[0], z[1], z[2], z[5]} {
				p.ZRangeWithScores(ctx, k, 0, -1)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return cmds, nil
	})
	by := map[string]counts{}
	if err != nil {
		return by
	}
	for i, c := range v.([]redis.Cmder) {
		for _, z := range c.(*redis.ZSliceCmd).Val() {
			key, _ := z.Member.(string)
			dir, name, ok := splitKey(key)
			if !ok {
				continue
			}
			repo := record{dir: dir, name: name}.repo()
			n := by[repo]
			switch i {
			case 0, 3:
				n.created++
			case 1:
				n.tombstones++
			case 2:
				n.reaps++
				if at := time.UnixMilli(int64(z.Score)); n.oldestReap.IsZero() || at.Before(n.oldestReap) {
					n.oldestReap = at
				}
			}
			by[repo] = n
		}
	}
	return by
}

func (o *sharedOverlay) ready(ctx context.Context) error {
	if err := o.checkMarker(ctx); err != nil {
		return err
	}
	return nil
}

// close hands the background lease on at once (instead of at leaseTTL)
// and disconnects. The records stay in Redis for the other instances.
func (o *sharedOverlay) close() error {
	var err error
	o.closeOnce.Do(func() {
		close(o.stopRenew)
		o.renewers.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = releaseScript.Run(ctx, o.rdb, []string{o.p + "bg"}, o.token).Err()
		o.leader.Store(false)
		if cerr := o.rdb.Close(); cerr != nil {
			err = fmt.Errorf("close the shared overlay: %w", cerr)
		}
	})
	return err
}
