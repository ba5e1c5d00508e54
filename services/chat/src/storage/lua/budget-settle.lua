-- Settles one LLM call: releases its reservation, adds its actual cost to the period's counters
-- and the user ranking, debits the credits, and appends the LLM-call record and the ledger debit to
-- the organization's history outbox (a stream the drainer moves to PostgreSQL), all in one step.
-- Invariant: balance = Σ ledger entries (PostgreSQL's plus the outbox's undrained tail), and the
-- period's counters = Σ of its LLM-call records the same way.
-- Settling the same reservation twice changes nothing (see the tombstone below). Redis keeps
-- nothing per call once the drainer has acknowledged the outbox entry and the tombstone is swept.
-- KEYS[1] the agent's spend counters of the period, KEYS[2] reserved totals, KEYS[3] open
-- reservations, KEYS[4] reservation data, KEYS[5] credits, KEYS[6] the period's user ranking,
-- KEYS[7] the agent's users, KEYS[8] the period's conversations, KEYS[9] the history outbox.
-- ARGV[1] reservation id ("" when none), ARGV[2] cost (micro-USD), ARGV[3] "user" or "anonymous",
-- ARGV[4] external user id, ARGV[5] day (YYYY-MM-DD), ARGV[6] call id, ARGV[7] the call record in
-- the outbox encoding (domain/history/outbox.ts), ARGV[8] ledger entry id, ARGV[9] input tokens,
-- ARGV[10] output tokens, ARGV[11] conversation id, ARGV[12] TTL of the period keys (seconds),
-- ARGV[13] the budget period's id (whose counters KEYS[1] holds; kept with the call for rebuilds).
-- Returns {"ok", balance} or {"duplicate"}.
local spend, reserved, reservations, data, credits = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ranking, users, conversations, outbox = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local reservation, cost, kind, userId, day = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local ttl = tonumber(ARGV[12])

-- A settled hold leaves its id in the open set without its data for 10 s (then the next reserve
-- sweeps it as expired): that tombstone makes a retried settle a no-op. A hold released or swept
-- before its call settles is gone from both: the call is still recorded and charged.
if reservation ~= '' then
  local held = redis.call('HGET', data, reservation)
  if held then
    local entry = cjson.decode(held)
    for _, field in ipairs(entry.f) do redis.call('HINCRBY', reserved, field, 0 - entry.a) end
    redis.call('HDEL', data, reservation)
    local time = redis.call('TIME')
    redis.call('ZADD', reservations, 'XX', tonumber(time[1]) * 1000 + 10000, reservation)
  elseif redis.call('ZSCORE', reservations, reservation) then
    return { 'duplicate' }
  end
end

redis.call('HINCRBY', spend, 'agent', cost)
local callCount = redis.call('HINCRBY', spend, 'calls', 1)
redis.call('HINCRBY', spend, 'inputTokens', tonumber(ARGV[9]))
redis.call('HINCRBY', spend, 'outputTokens', tonumber(ARGV[10]))
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
redis.call('SADD', conversations, ARGV[11])
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
end

-- The outbox entry: the call (c1) and its budget period (p), and for a paid call its ledger
-- entry's id (e) and the balance after it (b); the drainer derives the usage entry from the call.
if cost > 0 then
  redis.call('XADD', outbox, '*', 'c1', ARGV[7], 'p', ARGV[13], 'e', ARGV[8], 'b', string.format('%d', balance))
else
  redis.call('XADD', outbox, '*', 'c1', ARGV[7], 'p', ARGV[13])
end
return { 'ok', balance }
