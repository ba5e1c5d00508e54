-- Token buckets, taken all or nothing: one token from every bucket, or none when any is empty.
-- Each bucket is a hash (tokens, at) that refills continuously at its capacity per minute.
-- take_tokens(keys, capacities, now) returns {1} when taken, or {0, retry after (ms), index of the
-- bucket that is empty}.
local function take_tokens(buckets, capacities, now)
  local levels = {}
  local worst, worstIndex = 0, 0
  for i, key in ipairs(buckets) do
    local capacity = capacities[i]
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
  for i, key in ipairs(buckets) do
    redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'at', now)
    redis.call('PEXPIRE', key, 120000)
  end
  return { 1 }
end
