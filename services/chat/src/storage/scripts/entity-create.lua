-- Creates one entity of an organization's collection, with its index entry and (optionally) its
-- unique-field entry, all or nothing. Invariant: an entity exists iff its id is in the index, and a
-- unique value maps to at most one entity.
-- KEYS[1] entity key, KEYS[2] index (sorted set, all scores 0, ordered by id), KEYS[3] unique hash
-- ARGV[1] id, ARGV[2] entity JSON, ARGV[3] unique value ('' when the collection has none)
-- Returns 1 when created, 0 when the unique value is taken.
if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
end
return 1
