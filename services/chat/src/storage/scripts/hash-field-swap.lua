-- Compare-and-set of one hash field, so two concurrent edits of one tool's settings never drop each
-- other's change. Invariant: the field changes only from the value the caller read.
-- KEYS[1] hash; ARGV[1] field, ARGV[2] expected value ('' for absent), ARGV[3] new value
-- Returns 1 when set, 0 when the field changed since it was read.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
