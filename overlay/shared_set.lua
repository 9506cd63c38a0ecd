-- set: replace (or drop) one record if its stamp is still the one the
-- caller saw, and move it between the state sets, atomically.

local hash = KEYS[1]        -- the hash holding the record (d:<dir> or c)
local sets = {KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]}
                            -- the state sets, in stateSet order:
                            -- z:pc z:pt z:pr z:rq z:cf z:up
local reapQueue = KEYS[5]   -- z:rq
local dataKey = KEYS[8]     -- b:<key>, the bytes of a small upload
local prepared = KEYS[9]    -- p, the prepared deletes
local version = KEYS[10]    -- v:<dir>, the folder's version (shared_view.go)
local changes = KEYS[11]    -- g:<dir>, its names by the version of their last change

local field = ARGV[1]       -- the record's field in hash
local expect = ARGV[2]      -- the stamp it must have: '' any, '-' none
local value = ARGV[3]       -- the new record, '' to drop it
local member = ARGV[4]      -- the object's key, its member in the sets
local set = tonumber(ARGV[5]) -- the state set it joins: 0 none, else its place in sets
local score = ARGV[6]       -- its score there
local reapAt = ARGV[7]      -- its score in the reap queue, '' none
local dataMode = ARGV[8]    -- 'keep', 'set' or 'del' the data key
local data = ARGV[9]        -- the bytes, for 'set'
local ttl = ARGV[10]        -- every key's expiry, in ms
local clearPrepared = ARGV[11] -- '1' drops member's prepared delete
local listed = ARGV[12]     -- '1' when hash is a listed folder's (d:<dir>): its views must learn of the change
local logMax = tonumber(ARGV[13]) -- how many names changes keeps

local cur = redis.call('HGET', hash, field)
if expect == '-' then
  if cur then return 0 end
elseif expect ~= '' then
  if not cur then return 0 end
  local nl = string.find(cur, '\n', 1, true)
  if not nl or string.sub(cur, 1, nl - 1) ~= expect then return 0 end
end
for _, z in ipairs(sets) do redis.call('ZREM', z, member) end
if value == '' then
  redis.call('HDEL', hash, field)
else
  redis.call('HSET', hash, field, value)
end
if set > 0 then redis.call('ZADD', sets[set], score, member) end
if reapAt ~= '' then redis.call('ZADD', reapQueue, reapAt, member) end
if dataMode == 'set' then
  redis.call('SET', dataKey, data, 'PX', ttl)
elseif dataMode == 'del' then
  redis.call('DEL', dataKey)
end
if clearPrepared == '1' then redis.call('HDEL', prepared, member) end
redis.call('PEXPIRE', hash, ttl)
for _, z in ipairs(sets) do redis.call('PEXPIRE', z, ttl) end
if listed == '1' then
  -- The version is the server's clock in microseconds, or one more than
  -- the last: it never comes back after the keys expire, nor after Redis
  -- lost writes, so a view never takes another state for the one it holds.
  local t = redis.call('TIME')
  local cur = tonumber(redis.call('HGET', version, 'v') or '0')
  local v = string.format('%.0f', math.max(cur + 1, tonumber(t[1]) * 1000000 + tonumber(t[2])))
  redis.call('HSET', version, 'v', v)
  redis.call('ZADD', changes, v, field)
  local over = redis.call('ZCARD', changes) - logMax
  if over > 0 then
    -- A view older than the names dropped reads the whole folder again.
    local cut = redis.call('ZRANGE', changes, over - 1, over - 1, 'WITHSCORES')
    redis.call('HSET', version, 'floor', cut[2])
    redis.call('ZREMRANGEBYRANK', changes, 0, over - 1)
  end
  redis.call('PEXPIRE', version, ttl)
  redis.call('PEXPIRE', changes, ttl)
end
return 1
