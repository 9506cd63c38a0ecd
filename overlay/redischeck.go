package overlay

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Whoever can write the shared overlay can make the reaper remove objects
// (without --append-only), and a Redis that keeps nothing across a restart
// loses the records the contract rests on. Neither is steadyrest's to
// fix, so it says so at start, once.

// redisCheckTimeout bounds the start-up check: Redis out of reach is
// reported by the overlay itself, not waited for here.
const redisCheckTimeout = 2 * time.Second

// checkRedis logs what makes the Redis behind opt unsafe for the records:
// no password on a non-loopback address, and no append-only file.
func checkRedis(rdb redis.UniversalClient, opt *redis.Options, log *slog.Logger) {
	if opt.Password == "" && !loopbackAddr(opt.Network, opt.Addr) {
		log.Warn("shared overlay: Redis has no password on a non-loopback address; anyone who reaches it can forge records that make steadyrest remove objects (or, under --append-only, locks). Set requirepass or an ACL user and put the password in the --shared URL",
			"addr", opt.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisCheckTimeout)
	defer cancel()
	v, err := rdb.ConfigGet(ctx, "appendonly").Result()
	switch {
	case err != nil:
		log.Info("shared overlay: could not check whether Redis persists its data (CONFIG GET refused or Redis out of reach)", "err", err)
	case strings.EqualFold(v["appendonly"], "no"):
		log.Warn("shared overlay: Redis reports appendonly no: a restart loses the records of the last settle window (a snapshot keeps only what it saved). Turn on appendonly yes (appendfsync everysec or always)")
	}
}

// loopbackAddr tells whether a Redis at addr over network is reachable
// from this host only: a unix socket, or a loopback address.
func loopbackAddr(network, addr string) bool {
	if network == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
