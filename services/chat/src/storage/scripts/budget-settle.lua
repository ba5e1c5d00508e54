-- Settles one LLM call: releases its hold, books its cost in the period's counters, debits the
-- credits, and appends the call's record (and its ledger debit, when it cost anything) to the
-- organization's history outbox (a stream the drainer moves to PostgreSQL), all in one step.
-- Invariants: reserved[f] = Σ open holds on f; spent + reserved ≤ cap. So the amount booked is
-- never more than the hold (a model that reports more usage than its bound is booked at the bound,
-- and the excess is kept on the record as its overage); a hold already charged at its expiry (its
-- process died, or could not reach Redis in time) books nothing more. Counters = sum of the records'
-- costMicros; balance = sum of the ledger (PostgreSQL's plus the outbox's undrained tail).
-- The counters are only those the caps and alerts read (the agent's, each user's, the anonymous
-- pool's): the usage reports (calls, tokens, days, users, conversations) add up the records in
-- PostgreSQL, so Redis keeps nothing per call or per day for them.
-- A call settles once: its hold is gone afterwards, so settling it again (a journal replaying a
-- settle whose first attempt did land) is a duplicate. Redis keeps nothing per call once drained.
-- KEYS[1] the agent's spend counters of the period, KEYS[2] reserved totals, KEYS[3] open holds
-- (scored by expiry), KEYS[4] hold data, KEYS[5] credits, KEYS[6] the agent's users (ever: the
-- budget's tracked-user count), KEYS[7] the history outbox, KEYS[8] the marker of this hold charged
-- at expiry; for the alerts block at the end: KEYS[9] the agent's budget settings, KEYS[10] its
-- per-user cap overrides, KEYS[11] the agent's alert markers of the period, KEYS[12] the
-- organization's event stream, KEYS[13] its webhook endpoint index, KEYS[14] its credit settings
-- (the organization's low-balance threshold, when it set one).
-- ARGV[1] hold id ("" when none), ARGV[2] the call's cost from its usage (micro-USD), ARGV[3] "user"
-- or "anonymous", ARGV[4] external user id, ARGV[5] day (YYYY-MM-DD), ARGV[6] call id, ARGV[7] the
-- call's record without its settled fields, in the outbox encoding (domain/history/outbox.ts),
-- ARGV[8] ledger entry id, ARGV[9] conversation id, ARGV[10] TTL of the period keys (seconds),
-- ARGV[11] the budget period's id, ARGV[12] who settles: "stream" (the answer), "journal" (replayed
-- after Redis was away) or "expiry" (a hold nobody settled, charged at its bound), ARGV[13] how long
-- the expiry marker is kept (seconds); for the alerts: ARGV[14] when the period ends (ISO),
-- ARGV[15] the service's default low-balance threshold (micro-USD), ARGV[16] an event id prefix,
-- ARGV[17] now (ISO), ARGV[18] agent id.
-- Returns {"ok", balance, charged, overage}, {"duplicate"}, or {"gone"} (an expiry of a hold that
-- was settled meanwhile: nothing to do).
--#include lib/holds.lua
--#include lib/budget-alerts.lua
local spend, reserved, reservations, data, credits = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local users, outbox, expiredMarker = KEYS[6], KEYS[7], KEYS[8]
local hold, cost, kind, userId, day = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local callId, conversationId, ttl, periodId, settledBy = ARGV[6], ARGV[9], tonumber(ARGV[10]), ARGV[11], ARGV[12]

local charged = cost
if hold ~= '' then
  local entry = drop_hold(reserved, reservations, data, hold)
  if entry then
    if cost > entry.a then charged = entry.a end
    if settledBy == 'expiry' then redis.call('SET', expiredMarker, callId, 'EX', tonumber(ARGV[13])) end
  elseif settledBy == 'expiry' then
    return { 'gone' }
  elseif redis.call('EXISTS', expiredMarker) == 1 then
    -- Charged at its bound when it expired: this late record is kept, booked at nothing more, once.
    if string.sub(redis.call('GET', expiredMarker), 1, 5) == 'late:' then return { 'duplicate' } end
    redis.call('SET', expiredMarker, 'late:' .. callId, 'KEEPTTL')
    charged = 0
  else
    -- Its hold is gone and was not charged at expiry: this call was settled already.
    return { 'duplicate' }
  end
end
local overage = cost - charged

redis.call('HINCRBY', spend, 'agent', charged)
if kind == 'user' then
  redis.call('HINCRBY', spend, 'u:' .. userId, charged)
  redis.call('SADD', users, userId)
else
  redis.call('HINCRBY', spend, 'anon', charged)
end
-- The period's counters get their expiry when the period's first call creates them.
if redis.call('TTL', spend) == -1 then redis.call('EXPIRE', spend, ttl) end

-- (Lua prints -0 as "-0", which HINCRBY refuses: a free call only reads the balance.)
local balance = tonumber(redis.call('HGET', credits, 'balance')) or 0
if charged > 0 then
  balance = redis.call('HINCRBY', credits, 'balance', 0 - charged)
  redis.call('HINCRBY', credits, 'spent', charged)
  -- The calendar month's (UTC) usage, for the credit summary: `spent:YYYY-MM`.
  redis.call('HINCRBY', credits, 'spent:' .. string.sub(day, 1, 7), charged)
end

-- The outbox entry: the call (c1), what was decided of its cost here (m: booked, reported, overage,
-- who settled), its budget period (p), and for a paid call its ledger entry's id (e) and the balance
-- after it (b); the drainer derives the usage entry from the call.
local money = string.format('%d %d %d ', charged, cost, overage) .. settledBy
if charged > 0 then
  redis.call('XADD', outbox, '*', 'c1', ARGV[7], 'm', money, 'p', periodId, 'e', ARGV[8], 'b', string.format('%d', balance))
else
  redis.call('XADD', outbox, '*', 'c1', ARGV[7], 'm', money, 'p', periodId)
end
-- ===== Alerts (lib/budget-alerts.lua) =============================================================
-- Decided here, in the step that moves the counter, so answers settling at once cannot both fire a
-- threshold. Credits fire when this call moves the balance across the org's low threshold or to zero.
do
  local settings, userCaps, markers = KEYS[9], KEYS[10], KEYS[11]
  local lowBalance = tonumber(redis.call('HGET', KEYS[14], 'lowBalanceMicros')) or tonumber(ARGV[15])
  local emit = event_emitter(KEYS[12], KEYS[13], ARGV[16], ARGV[17], ARGV[18])
  local config = redis.call('HMGET', settings, 'enabled', 'monthlyMicros', 'defaultUserMicros', 'anonymousMicros',
    'alertThresholds')
  if config[1] == '1' and charged > 0 then
    local alert = { emit = emit, markers = markers, thresholds = config[5], now = ARGV[17], periodId = periodId,
      resetsAt = ARGV[14] }
    local function check(scope, cap, counterField, subject)
      cap = tonumber(cap)
      if not cap or cap <= 0 then return end
      fire_thresholds(alert, scope, subject, cap, tonumber(redis.call('HGET', spend, counterField)) or 0, false)
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
    emit('usage.overage_flagged', { callId = callId, conversationId = conversationId, reportedCostUsd = cost / 1000000,
      chargedUsd = charged / 1000000, overageUsd = overage / 1000000 })
  end
end
-- ===== End of alerts ==============================================================================

return { 'ok', balance, charged, overage }
