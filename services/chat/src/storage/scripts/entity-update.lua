-- Replaces an entity only if it still holds the JSON the caller read (optimistic concurrency, so
-- two concurrent PATCHes never silently drop each other's change), moving its unique-field entry.
-- Invariants: an entity changes only from the JSON its writer read; a unique value maps to at most
-- one entity (the new value is taken only when free, and the old one freed with it).
-- KEYS[1] entity key, KEYS[2] unique hash
-- ARGV[1] expected current JSON, ARGV[2] new JSON, ARGV[3] old unique value, ARGV[4] new unique
-- value, ARGV[5] id
-- Returns 1 when replaced, 0 when the new unique value is taken, -1 when the entity is gone,
-- -2 when it changed since it was read (the caller reads again and retries).
local current = redis.call('GET', KEYS[1])
if not current then
  return -1
end
if current ~= ARGV[1] then
  return -2
end
if ARGV[4] ~= ARGV[3] then
  if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[4]) == 1 then
    return 0
  end
  if ARGV[3] ~= '' then
    redis.call('HDEL', KEYS[2], ARGV[3])
  end
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
