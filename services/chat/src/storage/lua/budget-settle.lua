-- Settles one LLM call: releases its reservation, adds its actual cost to the period's counters
-- and the user ranking, debits the credits with a ledger entry, and writes the LLM-call record,
-- all in one step. Settling the same call twice changes nothing (the record exists).
-- KEYS[1] the agent's spend counters of the period, KEYS[2] reserved totals, KEYS[3] open
-- reservations, KEYS[4] reservation data, KEYS[5] credits, KEYS[6] the period's user ranking,
-- KEYS[7] the agent's users, KEYS[8] the LLM-call record, KEYS[9] the agent's LLM-call index,
-- KEYS[10] the ledger index, KEYS[11] the ledger entries, KEYS[12] the period's conversations.
-- ARGV[1] reservation id ("" when none), ARGV[2] cost (micro-USD), ARGV[3] "user" or "anonymous",
-- ARGV[4] external user id, ARGV[5] day (YYYY-MM-DD), ARGV[6] call id, ARGV[7] call JSON,
-- ARGV[8] ledger entry id, ARGV[9] ledger entry JSON (without the balance), ARGV[10] input tokens,
-- ARGV[11] output tokens, ARGV[12] conversation id, ARGV[13] TTL of the period keys (seconds),
-- ARGV[14] how long the LLM-call record is kept (seconds; 0: for ever), ARGV[15] the id below which
-- the agent's call index is trimmed once a period (records past the retention; "" for none).
-- Returns {"ok", balance} or {"duplicate"}.
local spend, reserved, reservations, data, credits = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ranking, users, call, calls, ledger, entries, conversations =
  KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local reservation, cost, kind, userId, day = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local ttl = tonumber(ARGV[13])

if redis.call('EXISTS', call) == 1 then return { 'duplicate' } end

if reservation ~= '' then
  local held = redis.call('HGET', data, reservation)
  if held then
    local entry = cjson.decode(held)
    for _, field in ipairs(entry.f) do redis.call('HINCRBY', reserved, field, 0 - entry.a) end
    redis.call('HDEL', data, reservation)
  end
  redis.call('ZREM', reservations, reservation)
end

redis.call('HINCRBY', spend, 'agent', cost)
local callCount = redis.call('HINCRBY', spend, 'calls', 1)
redis.call('HINCRBY', spend, 'inputTokens', tonumber(ARGV[10]))
redis.call('HINCRBY', spend, 'outputTokens', tonumber(ARGV[11]))
redis.call('HINCRBY', spend, 'd:' .. day .. ':spend', cost)
redis.call('HINCRBY', spend, 'd:' .. day .. ':calls', 1)
if kind == 'user' then
  redis.call('HINCRBY', spend, 'u:' .. userId, cost)
  redis.call('ZINCRBY', ranking, cost, userId)
  redis.call('SADD', users, userId)
  if redis.call('TTL', ranking) < 0 then redis.call('EXPIRE', ranking, ttl) end
else
  redis.call('HINCRBY', spend, 'anon', cost)
end
redis.call('SADD', conversations, ARGV[12])
-- The period's keys get their expiry when the period's first call creates them.
if callCount == 1 then
  redis.call('EXPIRE', spend, ttl)
  redis.call('EXPIRE', conversations, ttl)
end

-- (Lua prints -0 as "-0", which HINCRBY refuses: a free call only reads the balance.)
local balance = tonumber(redis.call('HGET', credits, 'balance')) or 0
if cost > 0 then
  balance = redis.call('HINCRBY', credits, 'balance', 0 - cost)
  redis.call('HINCRBY', credits, 'spent', cost)
  -- The calendar month's (UTC) usage, for the credit summary: `spent:YYYY-MM`.
  redis.call('HINCRBY', credits, 'spent:' .. string.sub(day, 1, 7), cost)
  -- The entry's JSON ends with `}`: append the amount and the balance after it (no decode/encode).
  local entry = string.sub(ARGV[9], 1, -2) ..
    ',"amountMicros":' .. string.format('%d', 0 - cost) .. ',"balanceAfterMicros":' .. string.format('%d', balance) .. '}'
  redis.call('HSET', entries, ARGV[8], entry)
  redis.call('ZADD', ledger, 0, ARGV[8])
end

local keep = tonumber(ARGV[14])
if keep > 0 then redis.call('SET', call, ARGV[7], 'EX', keep) else redis.call('SET', call, ARGV[7]) end
redis.call('ZADD', calls, 0, ARGV[6])
-- Index entries past the retention go once a period, with the period's first call.
if callCount == 1 and ARGV[15] ~= '' then redis.call('ZREMRANGEBYLEX', calls, '-', '(' .. ARGV[15]) end
return { 'ok', balance }
