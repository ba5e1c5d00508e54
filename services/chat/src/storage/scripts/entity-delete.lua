-- Deletes an entity with its index and unique-field entries, all or nothing.
-- Invariants (with entity-create and entity-update): an entity exists iff its id is in the index; a
-- unique value maps to at most one entity, and its entry is removed only while it names this one.
-- KEYS[1] entity key, KEYS[2] index, KEYS[3] unique hash, KEYS[4] an extra key owned by the
-- entity (or the entity key again when it has none)
-- ARGV[1] id, ARGV[2] unique value ('' when none)
-- Returns the deleted JSON, or false when there was nothing to delete.
local current = redis.call('GET', KEYS[1])
if not current then
  return false
end
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return current
