-- take: renew the lease when this token holds it, else take it when
-- nobody does.
local lease = KEYS[1]
local token = ARGV[1]
local ttl = ARGV[2] -- ms
local v = redis.call('GET', lease)
if v == token then return redis.call('PEXPIRE', lease, ttl) end
if not v then redis.call('SET', lease, token, 'PX', ttl); return 1 end
return 0
