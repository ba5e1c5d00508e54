-- Gives back a reservation unused (its call was never made).
-- KEYS[1] reserved totals, KEYS[2] open reservations, KEYS[3] reservation data; ARGV[1] reservation id.
local held = redis.call('HGET', KEYS[3], ARGV[1])
if held then
  local entry = cjson.decode(held)
  for _, field in ipairs(entry.f) do redis.call('HINCRBY', KEYS[1], field, 0 - entry.a) end
  redis.call('HDEL', KEYS[3], ARGV[1])
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
