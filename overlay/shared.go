package overlay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// sharedRecords is the recordStore of several instances: the records live
// in Redis (or a protocol-compatible server such as Valkey), so that a
// write or delete through one instance is seen through every other one at
// once. Nothing of the contract is kept in this process; every read asks
// Redis, and every change is one Lua script, atomic on the server, never a
// read-modify-write from Go.
//
// The keys are in shared_keys.go, the scripts in shared_*.lua.
type sharedRecords struct {
	rdb    redis.UniversalClient
	k      sharedKeys
	ttl    time.Duration
	token  string // this instance's lease token
	log    *slog.Logger
	obs    Observer
	event  func(name string, n int)
	marker atomic.Pointer[string] // the marker id seen last
	acked  *ackedLocks            // locks acknowledged here, kept until confirmed (ackedlocks.go)
	views  dirViews               // listed folders' records, kept fresh by their version (shared_view.go)
	batch  int                    // dueBatch; smaller in tests

	leader atomic.Bool  // holds the background lease
	down   atomic.Bool  // the last call to Redis failed
	leases atomic.Int64 // per-name leases held now

	mu   sync.Mutex
	last counts // the counts last read, answered while Redis is away

	stopRenew chan struct{}
	renewers  sync.WaitGroup
	closeOnce sync.Once
}

var _ recordStore = (*sharedRecords)(nil)

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

// openSharedRecords connects to the Redis at rawURL (redis://, rediss://
// or unix://) for the records of the remote named remote. It does not
// fail when Redis is unreachable: the requests that need it answer 503,
// and /readyz says why, until it answers.
func openSharedRecords(rawURL, remote string, settle time.Duration, log *slog.Logger, obs Observer, event func(string, int)) (*sharedRecords, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("Redis URL: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	opt.MaxRetries = 1
	quietRedisLog.Do(func() { redis.SetLogger(redisLog{}) })
	o := &sharedRecords{
		rdb:       redis.NewClient(opt),
		k:         keysFor(remote),
		ttl:       settle + retireGrace + time.Minute,
		token:     randomID(),
		log:       log,
		obs:       obs,
		event:     event,
		acked:     newAckedLocks(),
		batch:     dueBatch,
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

// do runs one call to Redis, bounded in time and reported to the Observer.
// Its error is a *RemoteError: Redis out of reach may heal, so the request
// answers 503 and restic retries.
//
// fn returns go-redis's error; redis.Nil (a key or field absent) is no
// failure, and do reports it as found false.
func (o *sharedRecords) do(ctx context.Context, op string, fn func(context.Context) error) (found bool, err error) {
	caller := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sharedOpTimeout)
		defer cancel()
	}
	start := time.Now()
	err = fn(ctx)
	found = !errors.Is(err, redis.Nil)
	if !found {
		err = nil
	}
	result := ResultOK
	if err != nil {
		result = ResultError
	}
	o.obs.SharedOp(op, result, time.Since(start))
	if err != nil {
		// A caller that gave up (a client gone, a shutdown) says nothing
		// of Redis, nor does a client closed at shutdown.
		if caller.Err() == nil && !errors.Is(err, redis.ErrClosed) && !o.down.Swap(true) {
			o.log.Error("shared overlay: Redis is out of reach; requests that need the overlay answer 503 until it returns", "op", op, "err", err)
		}
		return false, &RemoteError{Op: "shared overlay " + op, Err: fmt.Errorf("%w: %w", ErrOverlayUnavailable, err)}
	}
	if o.down.Swap(false) {
		o.log.Info("shared overlay: Redis answers again")
	}
	return found, nil
}

func (o *sharedRecords) ready(ctx context.Context) error {
	if err := o.checkMarker(ctx); err != nil {
		return err
	}
	return nil
}

// close hands the background lease on at once (instead of at leaseTTL)
// and disconnects. The records stay in Redis for the other instances.
func (o *sharedRecords) close() error {
	var err error
	o.closeOnce.Do(func() {
		close(o.stopRenew)
		o.renewers.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = o.runLease(ctx, releaseScript, o.k.background(), o.token)
		o.leader.Store(false)
		if cerr := o.rdb.Close(); cerr != nil {
			err = fmt.Errorf("close the shared overlay: %w", cerr)
		}
	})
	return err
}
