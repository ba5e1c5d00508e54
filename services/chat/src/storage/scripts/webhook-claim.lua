-- Claims the webhook deliveries that are due, for one attempt each by one instance at a time.
-- Invariant: a due delivery is handed to one caller; its score moves to now + lease, so an instance
-- that dies mid-attempt leaves it due again when the lease ends (at least once, never lost).
-- KEYS[1] the organization's delivery schedule (delivery id scored by its next attempt, ms).
-- ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] at most this many.
-- Returns the claimed delivery ids.
local schedule = KEYS[1]
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', schedule, '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do redis.call('ZADD', schedule, now + lease, id) end
return due
