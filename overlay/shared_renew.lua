-- renew: extend a lease this token holds.
local lease = KEYS[1]
local token = ARGV[1]
local ttl = ARGV[2] -- ms
if redis.call('GET', lease) == token then return redis.call('PEXPIRE', lease, ttl) end
return 0
