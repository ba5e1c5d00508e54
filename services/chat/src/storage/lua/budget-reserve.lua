-- Reserves an upper bound of one LLM call's cost in every scope that applies, all or nothing.
-- KEYS[1] agent budget settings, KEYS[2] the agent's spend counters of the current period,
-- KEYS[3] the agent's per-user cap overrides, KEYS[4] reserved totals, KEYS[5] open reservations
-- (scored by expiry), KEYS[6] reservation data, KEYS[7] the organization's credits.
-- ARGV[1] reservation id, ARGV[2] amount (micro-USD), ARGV[3] now (ms), ARGV[4] expiry (ms),
-- ARGV[5] "user" or "anonymous", ARGV[6] external user id ("" when anonymous), ARGV[7] agent id.
-- Returns {"ok"} or {"denied", scope, cap, used, spent} (used = spent + reserved, micro-USD; for
-- credits, cap is the balance and spent 0).
local settings, spend, userCaps, reserved, reservations, data, credits =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local id, amount, now, expiry = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local kind, userId, agentId = ARGV[5], ARGV[6], ARGV[7]

-- Release what crashed processes left behind: reservations past their expiry.
local expired = redis.call('ZRANGEBYSCORE', reservations, '-inf', now, 'LIMIT', 0, 200)
for _, old in ipairs(expired) do
  local held = redis.call('HGET', data, old)
  if held then
    local entry = cjson.decode(held)
    for _, field in ipairs(entry.f) do redis.call('HINCRBY', reserved, field, 0 - entry.a) end
    redis.call('HDEL', data, old)
  end
  redis.call('ZREM', reservations, old)
end

local function number(value) return tonumber(value) or 0 end

local fields = {}
local function check(scope, cap, spentField, reservedField)
  if cap == nil or cap == '' then return nil end
  local spent = number(redis.call('HGET', spend, spentField))
  local used = spent + number(redis.call('HGET', reserved, reservedField))
  if used + amount > tonumber(cap) then return { 'denied', scope, tonumber(cap), used, spent } end
  table.insert(fields, reservedField)
  return nil
end

local config = redis.call('HMGET', settings, 'enabled', 'monthlyMicros', 'defaultUserMicros', 'anonymousMicros')
if config[1] == '1' then
  local denied = check('agent', config[2], 'agent', 'agent:' .. agentId)
  if denied then return denied end
  if kind == 'user' then
    local cap = redis.call('HGET', userCaps, userId) or config[3]
    denied = check('user', cap, 'u:' .. userId, 'user:' .. agentId .. ':' .. userId)
  else
    denied = check('anonymous', config[4], 'anon', 'anon:' .. agentId)
  end
  if denied then return denied end
end

-- The organization's AI credits: chat stops when a call could take the balance below zero.
local balance = number(redis.call('HGET', credits, 'balance'))
local held = number(redis.call('HGET', reserved, 'credits'))
if balance - held - amount < 0 then return { 'denied', 'credits', balance, held, 0 } end
table.insert(fields, 'credits')

for _, field in ipairs(fields) do redis.call('HINCRBY', reserved, field, amount) end
redis.call('HSET', data, id, cjson.encode({ a = amount, f = fields }))
redis.call('ZADD', reservations, expiry, id)
return { 'ok' }
