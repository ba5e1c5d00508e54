-- Holds an upper bound of one LLM call's cost in every scope that applies, all or nothing.
-- Invariants: reserved[f] = Σ open holds on f; spent + reserved ≤ cap in every scope (the check
-- below and the settle script, which books at most the hold, keep it). A hold nobody settles
-- is charged at its bound when it expires (by the expired-holds sweeper, through the settle script),
-- never silently released: the model may have run.
-- KEYS[1] agent budget settings, KEYS[2] the agent's spend counters of the current period,
-- KEYS[3] the agent's per-user cap overrides, KEYS[4] reserved totals, KEYS[5] open holds
-- (scored by expiry), KEYS[6] hold data, KEYS[7] the organization's credits.
-- ARGV[1] hold id, ARGV[2] amount (micro-USD), ARGV[3] now (ms), ARGV[4] expiry (ms),
-- ARGV[5] "user" or "anonymous", ARGV[6] external user id ("" when anonymous), ARGV[7] agent id,
-- ARGV[8] the hold's context as JSON (whose call it is, for a charge at expiry).
-- Alerts: KEYS[8] the agent's alert markers of the period, KEYS[9] the organization's event outbox,
-- KEYS[10] its webhook endpoint index; ARGV[9] when the period ends (ISO), ARGV[10] an event id
-- prefix, ARGV[11] now (ISO), ARGV[12] period id. A cap refused because what is left cannot pay for
-- the call (not because answers in flight hold it) is spent: its thresholds not yet fired fire now,
-- with the same markers as the settle script's (so 100 % is reached although settles never book
-- past the cap). A call larger than the whole cap fires nothing.
-- A hold taken ahead (before the caller read the budget settings; chat-turn.ts): ARGV[13] the reset
-- day the caller assumed ("" when it read the settings), ARGV[14] the day that applies when none is
-- set; when the settings say another day, nothing is held and {"stale"} is returned (the period,
-- and so every counter key, would be wrong). ARGV[15] "quiet": a refusal fires no alert (the amount
-- is a forecast; the caller holds again with the exact bound, which fires them).
-- A hold sent right behind its chat turn's admission, in the same round trip: KEYS[11] the visitor's
-- open streams, ARGV[16] the stream lease the admission takes ("": no gate); when the lease is not
-- open (the admission refused), nothing is held and {"not_admitted"} is returned.
-- Returns {"ok"}, {"stale"}, {"not_admitted"} or {"denied", scope, cap, used, spent} (used = spent + reserved,
-- micro-USD; for credits, cap is the balance and spent 0).
--#include lib/holds.lua
--#include lib/budget-alerts.lua
--#include lib/admission-gate.lua
if not admitted(KEYS[11], ARGV[16]) then return { 'not_admitted' } end
local settings, spend, userCaps, reserved, reservations, data, credits =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local id, amount, expiry = ARGV[1], tonumber(ARGV[2]), ARGV[4]
local kind, userId, agentId = ARGV[5], ARGV[6], ARGV[7]

local function number(value) return tonumber(value) or 0 end
local markers, events, endpoints = KEYS[8], KEYS[9], KEYS[10]

local function exhausted(denied, subject, thresholds)
  local scope, cap, spent = denied[2], denied[3], denied[5]
  if spent + amount <= cap or amount > cap or cap <= 0 or ARGV[15] == 'quiet' then return denied end
  local alert = { emit = event_emitter(events, endpoints, ARGV[10], ARGV[11], agentId), markers = markers,
    thresholds = thresholds, now = ARGV[11], periodId = ARGV[12], resetsAt = ARGV[9] }
  fire_thresholds(alert, scope, subject, cap, spent, true)
  if redis.call('TTL', markers) < 0 then redis.call('EXPIRE', markers, 400 * 86400) end
  return denied
end

local fields = {}
local function check(scope, cap, spentField, reservedField)
  if cap == nil or cap == '' then return nil end
  local spent = number(redis.call('HGET', spend, spentField))
  local used = spent + number(redis.call('HGET', reserved, reservedField))
  if used + amount > tonumber(cap) then return { 'denied', scope, tonumber(cap), used, spent } end
  table.insert(fields, reservedField)
  return nil
end

local config = redis.call('HMGET', settings, 'enabled', 'monthlyMicros', 'defaultUserMicros', 'anonymousMicros',
  'alertThresholds', 'resetDay')
if ARGV[13] ~= nil and ARGV[13] ~= '' and tonumber(config[6] or ARGV[14]) ~= tonumber(ARGV[13]) then
  return { 'stale' }
end
if config[1] == '1' then
  local denied = check('agent', config[2], 'agent', 'agent:' .. agentId)
  if denied then return exhausted(denied, '', config[5]) end
  if kind == 'user' then
    local cap = redis.call('HGET', userCaps, userId) or config[3]
    denied = check('user', cap, 'u:' .. userId, 'user:' .. agentId .. ':' .. userId)
    if denied then return exhausted(denied, userId, config[5]) end
  else
    denied = check('anonymous', config[4], 'anon', 'anon:' .. agentId)
    if denied then return exhausted(denied, '', config[5]) end
  end
end

-- The organization's AI credits: chat stops when a call could take the balance below zero.
local balance = number(redis.call('HGET', credits, 'balance'))
local held = number(redis.call('HGET', reserved, 'credits'))
if balance - held - amount < 0 then return { 'denied', 'credits', balance, held, 0 } end
table.insert(fields, 'credits')

add_hold(reserved, reservations, data, id, amount, fields, ARGV[8], expiry)
return { 'ok' }
