-- A lease on one of a visitor's concurrent chat streams.
-- KEYS[1] the visitor's open streams (scored by lease expiry). ARGV[1] now (ms), ARGV[2] lease
-- expiry (ms), ARGV[3] stream id, ARGV[4] the most streams at once.
-- Returns 1 when leased, 0 when the visitor already has the most streams open.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
