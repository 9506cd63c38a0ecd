-- release: give up a lease this token holds.
local lease = KEYS[1]
local token = ARGV[1]
if redis.call('GET', lease) == token then return redis.call('DEL', lease) end
return 0
