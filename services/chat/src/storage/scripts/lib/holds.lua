-- Budget holds: `data` maps a hold id to {"a": amount, "f": [reserved fields], "c": context}, `holds`
-- scores the open ones by expiry, and `reserved` sums the open holds per field. Taken and dropped
-- only here, so reserved[f] = Σ open holds on f.
-- add_hold(reserved, holds, data, id, amount, fields, context, expiry) holds `amount` on each of
-- `fields` until `expiry` (ms); `context` is JSON, kept for a charge at expiry.
-- drop_hold(reserved, holds, data, id) takes a hold out of all three and returns its decoded entry,
-- or nil when there is no such hold (settled, released or charged already).
local function add_hold(reserved, holds, data, id, amount, fields, context, expiry)
  for _, field in ipairs(fields) do redis.call('HINCRBY', reserved, field, amount) end
  local entry = '{"a":' .. string.format('%d', amount) .. ',"f":' .. cjson.encode(fields) .. ',"c":' .. context .. '}'
  redis.call('HSET', data, id, entry)
  redis.call('ZADD', holds, expiry, id)
end

local function drop_hold(reserved, holds, data, id)
  local held = redis.call('HGET', data, id)
  redis.call('ZREM', holds, id)
  if not held then return nil end
  local entry = cjson.decode(held)
  for _, field in ipairs(entry.f) do redis.call('HINCRBY', reserved, field, 0 - entry.a) end
  redis.call('HDEL', data, id)
  return entry
end
