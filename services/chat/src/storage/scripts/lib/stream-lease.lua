-- A lease on one of a visitor's concurrent chat streams: the streams set holds lease ids scored by
-- their expiry. acquire_stream(key, now, expiry, id, most) returns 1 when leased, 0 when `most`
-- leases are already open.
local function acquire_stream(key, now, expiry, id, most)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= most then return 0 end
  redis.call('ZADD', key, expiry, id)
  redis.call('PEXPIREAT', key, expiry)
  return 1
end
