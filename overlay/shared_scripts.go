package overlay

import (
	"context"
	_ "embed"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Every change of the shared records is one Lua script, atomic on the
// server; each names its KEYS and ARGV at its top.
var (
	//go:embed shared_set.lua
	setLua string
	//go:embed shared_renew.lua
	renewLua string
	//go:embed shared_release.lua
	releaseLua string
	//go:embed shared_take.lua
	takeLua string
	//go:embed shared_view.lua
	viewLua string

	setScript     = redis.NewScript(setLua)
	renewScript   = redis.NewScript(renewLua)
	releaseScript = redis.NewScript(releaseLua)
	takeScript    = redis.NewScript(takeLua)
	viewScript    = redis.NewScript(viewLua)
)

// expectAbsent as a write's expect makes it apply only where key has no
// record.
const expectAbsent = "-"

// write is one setScript call: r replaces the record of r.key (drop:
// removes it) if the current one still has stamp expect ("" for any).
type write struct {
	expect    string
	r         record
	drop      bool
	data      []byte // set with the record
	dropData  bool
	clearPrep bool
}

// args are w's KEYS and ARGV, in the order shared_set.lua names them.
func (o *sharedRecords) args(w write) (keys []string, argv []any) {
	key := w.r.key
	hash, field := o.k.holder(key)
	keys = append([]string{hash}, o.k.sets()...)
	keys = append(keys, o.k.data(key.path), o.k.prepared(), o.k.version(key.dir), o.k.changes(key.dir))
	listed := "1"
	if key.isConfig() {
		listed = "0"
	}
	value, set, score, reapAt := "", setNone, int64(0), ""
	if !w.drop {
		r := w.r
		value = encodeRecord(r)
		set, score = setOf(r), r.at.UnixMilli()
		switch set {
		case setConfirmed:
			score = r.confirmed.UnixMilli()
		case setReaps:
			reapAt = strconv.FormatInt(r.nextTry.UnixMilli(), 10)
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
	argv = []any{field, w.expect, value, key.path, int(set), score, reapAt, mode, w.data, o.ttl.Milliseconds(), clear, listed, viewLogMax}
	return keys, argv
}

// writeAll runs the writes in one round trip and reports which applied.
func (o *sharedRecords) writeAll(ctx context.Context, op string, ws []write) ([]bool, error) {
	ok := make([]bool, len(ws))
	run := func(ctx context.Context) ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(ws))
		_, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, w := range ws {
				keys, argv := o.args(w)
				cmds[i] = setScript.EvalSha(ctx, p, keys, argv...)
			}
			return nil
		})
		return cmds, err
	}
	_, err := o.do(ctx, op, func(ctx context.Context) error {
		cmds, err := run(ctx)
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis restarted and forgot the script: none of the calls
			// ran (the script cache is global), so load it and run again.
			if err := setScript.Load(ctx, o.rdb).Err(); err != nil {
				return err
			}
			cmds, err = run(ctx)
		}
		if err != nil {
			return err
		}
		for i, c := range cmds {
			n, err := c.Int()
			if err != nil {
				return err
			}
			ok[i] = n == 1
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ok, nil
}

// runLease runs one of the lease scripts on lease for token, returning
// its integer answer (0: the lease is another's).
func (o *sharedRecords) runLease(ctx context.Context, s *redis.Script, lease, token string, args ...any) (int, error) {
	return s.Run(ctx, o.rdb, []string{lease}, append([]any{token}, args...)...).Int()
}
