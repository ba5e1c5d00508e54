-- Settles one LLM call: releases its hold, books its cost in the period's counters and the user
-- ranking, debits the credits with a ledger entry, and writes the LLM-call record, in one step.
-- Invariants: reserved[f] = sum of open holds; spent + reserved <= cap. So the amount booked is never
-- more than the hold (a model that reports more usage than its bound is booked at the bound, and the
-- excess is kept on the record as overageMicros); a hold already charged at its expiry (its process
-- died, or could not reach Redis in time) books nothing more. Counters = sum of the records' costMicros.
-- Settling the same call twice changes nothing (the record exists).
-- KEYS[1] the agent's spend counters of the period, KEYS[2] reserved totals, KEYS[3] open holds
-- (scored by expiry), KEYS[4] hold data, KEYS[5] credits, KEYS[6] the period's user ranking,
-- KEYS[7] the agent's users, KEYS[8] the LLM-call record, KEYS[9] the agent's LLM-call index,
-- KEYS[10] the ledger index, KEYS[11] the ledger entries, KEYS[12] the period's conversations,
-- KEYS[13] the marker of this hold charged at expiry.
-- ARGV[1] hold id ("" when none), ARGV[2] the call's cost from its usage (micro-USD), ARGV[3] "user"
-- or "anonymous", ARGV[4] external user id, ARGV[5] day (YYYY-MM-DD), ARGV[6] call id, ARGV[7] the
-- call's record JSON without its cost fields, ARGV[8] ledger entry id, ARGV[9] ledger entry JSON
-- (without amount and balance), ARGV[10] input tokens, ARGV[11] output tokens, ARGV[12] conversation
-- id, ARGV[13] TTL of the period keys (seconds), ARGV[14] how long the record is kept (seconds; 0: for
-- ever), ARGV[15] the id below which the agent's call index is trimmed once a period ("" for none),
-- ARGV[16] who settles: "stream" (the answer), "journal" (replayed after Redis was away) or "expiry"
-- (a hold nobody settled, charged at its bound), ARGV[17] how long the expiry marker is kept (s).
-- Alerts (the block at the end; KEYS[14..18], ARGV[18..23]): KEYS[14] the agent's budget settings,
-- KEYS[15] its per-user cap overrides, KEYS[16] the agent's alert markers of the period, KEYS[17]
-- the organization's event outbox (a stream), KEYS[18] its webhook endpoint index. ARGV[18] when the
-- period ends (ISO), ARGV[19] the low-balance threshold (micro-USD), ARGV[20] an event id prefix,
-- ARGV[21] now (ISO), ARGV[22] agent id, ARGV[23] period id.
-- Returns {"ok", balance, charged, overage}, {"duplicate"}, or {"gone"} (an expiry of a hold that was
-- settled meanwhile: nothing to do).
local spend, reserved, reservations, data, credits = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ranking, users, call, calls, ledger, entries, conversations =
  KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local expiredMarker = KEYS[13]
local hold, cost, kind, userId, day = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local ttl, settledBy = tonumber(ARGV[13]), ARGV[16]

if redis.call('EXISTS', call) == 1 then return { 'duplicate' } end

local charged = cost
if hold ~= '' then
  local held = redis.call('HGET', data, hold)
  if held then
    local entry = cjson.decode(held)
    if cost > entry.a then charged = entry.a end
    for _, field in ipairs(entry.f) do redis.call('HINCRBY', reserved, field, 0 - entry.a) end
    redis.call('HDEL', data, hold)
    redis.call('ZREM', reservations, hold)
    if settledBy == 'expiry' then redis.call('SET', expiredMarker, ARGV[6], 'EX', tonumber(ARGV[17])) end
  elseif settledBy == 'expiry' then
    return { 'gone' }
  elseif redis.call('EXISTS', expiredMarker) == 1 then
    -- Charged at its bound when it expired: this late record is kept, booked at nothing more.
    charged = 0
  end
end
local overage = cost - charged

local function usd(micros)
  return string.format('%d.%06d', math.floor(micros / 1000000), micros % 1000000)
end

redis.call('HINCRBY', spend, 'agent', charged)
local callCount = redis.call('HINCRBY', spend, 'calls', 1)
redis.call('HINCRBY', spend, 'inputTokens', tonumber(ARGV[10]))
redis.call('HINCRBY', spend, 'outputTokens', tonumber(ARGV[11]))
redis.call('HINCRBY', spend, 'd:' .. day .. ':spend', charged)
redis.call('HINCRBY', spend, 'd:' .. day .. ':calls', 1)
if kind == 'user' then
  redis.call('HINCRBY', spend, 'u:' .. userId, charged)
  redis.call('ZINCRBY', ranking, charged, userId)
  redis.call('SADD', users, userId)
  if redis.call('TTL', ranking) < 0 then redis.call('EXPIRE', ranking, ttl) end
else
  redis.call('HINCRBY', spend, 'anon', charged)
end
redis.call('SADD', conversations, ARGV[12])
-- The period's keys get their expiry when the period's first call creates them.
if callCount == 1 then
  redis.call('EXPIRE', spend, ttl)
  redis.call('EXPIRE', conversations, ttl)
end

-- (Lua prints -0 as "-0", which HINCRBY refuses: a free call only reads the balance.)
local balance = tonumber(redis.call('HGET', credits, 'balance')) or 0
if charged > 0 then
  balance = redis.call('HINCRBY', credits, 'balance', 0 - charged)
  redis.call('HINCRBY', credits, 'spent', charged)
  -- The calendar month's (UTC) usage, for the credit summary: `spent:YYYY-MM`.
  redis.call('HINCRBY', credits, 'spent:' .. string.sub(day, 1, 7), charged)
  -- The entry's JSON ends with `}`: append the amount and the balance after it (no decode/encode).
  local entry = string.sub(ARGV[9], 1, -2) ..
    ',"amountMicros":' .. string.format('%d', 0 - charged) .. ',"balanceAfterMicros":' .. string.format('%d', balance) .. '}'
  redis.call('HSET', entries, ARGV[8], entry)
  redis.call('ZADD', ledger, 0, ARGV[8])
end

-- The record's cost fields are decided here: what was booked, what the usage said, the excess.
local record = string.sub(ARGV[7], 1, -2) ..
  ',"costMicros":' .. string.format('%d', charged) .. ',"costUsd":' .. usd(charged) ..
  ',"reportedCostMicros":' .. string.format('%d', cost) .. ',"overageMicros":' .. string.format('%d', overage) ..
  ',"settledBy":"' .. settledBy .. '"}'
local keep = tonumber(ARGV[14])
if keep > 0 then redis.call('SET', call, record, 'EX', keep) else redis.call('SET', call, record) end
redis.call('ZADD', calls, 0, ARGV[6])
-- Index entries past the retention go once a period, with the period's first call.
if callCount == 1 and ARGV[15] ~= '' then redis.call('ZREMRANGEBYLEX', calls, '-', '(' .. ARGV[15]) end
-- ===== Alerts =====================================================================================
-- Invariant: each threshold of each scope fires once per period and cap (HSETNX of a marker keyed by
-- scope, user, threshold and cap: a new period or another cap re-arms it), decided here in the step
-- that moves the counter, so answers settling at once cannot both fire it. Credits fire when this
-- call moves the balance across the org's low threshold or to zero. Events go to the organization's
-- outbox stream (read by the webhook delivery worker) only when it has an endpoint.
do
  local settings, userCaps, markers, outbox, endpoints = KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18]
  local periodEnd, lowBalance, eventPrefix, now, agentId, periodId =
    ARGV[18], tonumber(ARGV[19]), ARGV[20], ARGV[21], ARGV[22], ARGV[23]
  local subscribed = redis.call('ZCARD', endpoints) > 0
  local emitted = 0
  local function emit(eventType, data)
    if not subscribed then return end
    emitted = emitted + 1
    data.agentId = agentId
    redis.call('XADD', outbox, 'MAXLEN', '~', 10000, '*', 'id', eventPrefix .. string.format('%02d', emitted),
      'type', eventType, 'occurredAt', now, 'data', cjson.encode(data))
  end
  local config = redis.call('HMGET', settings, 'enabled', 'monthlyMicros', 'defaultUserMicros', 'anonymousMicros',
    'alertThresholds')
  if config[1] == '1' and charged > 0 then
    local thresholds = config[5] or '50,80,100'
    local function check(scope, cap, counterField, subject)
      cap = tonumber(cap)
      if not cap or cap <= 0 then return end
      local spentNow = tonumber(redis.call('HGET', spend, counterField)) or 0
      for threshold in string.gmatch(thresholds, '%d+') do
        local percent = tonumber(threshold)
        if spentNow * 100 >= percent * cap and
          redis.call('HSETNX', markers, scope .. ':' .. subject .. ':' .. threshold .. ':' .. cap, now) == 1 then
          emit('budget.threshold_reached', { scope = scope, externalUserId = subject ~= '' and subject or nil,
            thresholdPercent = percent, limitUsd = cap / 1000000, spentUsd = spentNow / 1000000,
            periodId = periodId, resetsAt = periodEnd })
        end
      end
    end
    check('agent', config[2], 'agent', '')
    if kind == 'user' then
      check('user', redis.call('HGET', userCaps, userId) or config[3], 'u:' .. userId, userId)
    else
      check('anonymous', config[4], 'anon', '')
    end
    if redis.call('TTL', markers) < 0 then redis.call('EXPIRE', markers, ttl) end
  end
  local before = balance + charged
  if lowBalance > 0 and before >= lowBalance and balance < lowBalance and balance > 0 then
    emit('credits.low_balance', { balanceUsd = balance / 1000000, thresholdUsd = lowBalance / 1000000 })
  end
  if before > 0 and balance <= 0 then emit('credits.depleted', { balanceUsd = balance / 1000000 }) end
  if overage > 0 then
    emit('usage.overage_flagged', { callId = ARGV[6], conversationId = ARGV[12], reportedCostUsd = cost / 1000000,
      chargedUsd = charged / 1000000, overageUsd = overage / 1000000 })
  end
end
-- ===== End of alerts ==============================================================================

return { 'ok', balance, charged, overage }
