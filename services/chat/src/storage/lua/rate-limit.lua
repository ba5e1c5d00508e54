-- Token buckets, taken all or nothing: one token from every bucket, or none when any is empty.
-- KEYS[i] a bucket (hash: tokens, at). ARGV[1] now (ms); ARGV[i + 1] bucket i's limit per minute
-- (its capacity; it refills at that rate, continuously).
-- Returns {1} when taken, or {0, retry after (ms), index of the empty bucket}.
local now = tonumber(ARGV[1])
local levels = {}
local worst, worstIndex = 0, 0
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  if now > at then tokens = math.min(capacity, tokens + (now - at) * capacity / 60000) end
  levels[i] = tokens
  if tokens < 1 then
    local wait = math.ceil((1 - tokens) * 60000 / capacity)
    if wait > worst then worst, worstIndex = wait, i end
  end
end
if worstIndex > 0 then return { 0, worst, worstIndex } end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'at', now)
  redis.call('PEXPIRE', key, 120000)
end
return { 1 }
