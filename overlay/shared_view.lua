-- view: a listed folder's records for an instance's view of them, with
-- the folder's version and the marker, of one moment: every record, or
-- only those changed since the version the view holds.

local hash = KEYS[1]        -- d:<dir>, the folder's records
local version = KEYS[2]     -- v:<dir>, its version and floor
local changes = KEYS[3]     -- g:<dir>, its names by the version of their last change
local markerKey = KEYS[4]   -- m, the marker

local since = ARGV[1]       -- the version the view holds, '' for none

local marker = redis.call('GET', markerKey)
local v = redis.call('HMGET', version, 'v', 'floor')
local ver, floor = v[1] or '0', v[2] or '0'
local size = redis.call('HLEN', hash)
if since == '' or tonumber(since) < tonumber(floor) or tonumber(ver) < tonumber(since) then
  -- No view, one older than changes covers, or one newer than the
  -- folder (its keys expired): every record.
  return {marker, ver, size, 1, redis.call('HGETALL', hash)}
end
local names = redis.call('ZRANGEBYSCORE', changes, '(' .. since, '+inf')
local vals = {}
for i, name in ipairs(names) do
  vals[i] = redis.call('HGET', hash, name) -- false: dropped
end
return {marker, ver, size, 0, names, vals}
