-- Debits what Stripe refunded of one credited Checkout Session, exactly once. Stripe reports the
-- charge's cumulative refunded amount; the session remembers how much was already debited, so a
-- duplicate, an older event arriving late or a second partial refund debits only the part not yet
-- debited (never more than was bought). The balance may go below zero: the credits were paid for
-- with money that is now returned, and usage already spent them.
-- Invariant: balance = sum of the ledger entries; refunds of a session never exceed its purchase.
-- The ledger entry and the processed event go to the history outbox (drained to PostgreSQL, where
-- an event id is kept once) in the same step.
-- KEYS[1] credits, KEYS[2] the history outbox, KEYS[3] the organization's Checkout Sessions.
-- ARGV[1] session id, ARGV[2] cumulative refunded amount (micro-USD), ARGV[3] ledger entry id,
-- ARGV[4] ledger entry JSON (without amount and balance), ARGV[5] refund ids (comma-separated),
-- ARGV[6] PaymentIntent id of the charge, ARGV[7] event id, ARGV[8] event type, ARGV[9] now (ISO).
-- Returns {outcome, balance, debited}: outcome "refunded", "duplicate", "not_credited" (the
-- purchase is not credited yet) or "payment_mismatch" (the charge paid another session).
--#include lib/ledger.lua
--#include lib/checkout-sessions.lua
local credits, outbox, sessions = KEYS[1], KEYS[2], KEYS[3]
local sessionId, cumulative, entryId = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local paymentIntent, eventId, now = ARGV[6], ARGV[7], ARGV[9]

local stored = redis.call('HGET', sessions, sessionId)
local balance = tonumber(redis.call('HGET', credits, 'balance')) or 0
if not stored then return { 'not_credited', balance, 0 } end
local record = cjson.decode(stored)
if record.credited ~= true then return { 'not_credited', balance, 0 } end
if type(record.paymentIntentId) == 'string' and paymentIntent ~= '' and record.paymentIntentId ~= paymentIntent then
  return { 'payment_mismatch', balance, 0 }
end

local known = type(record.refundIds) == 'string' and record.refundIds or ''
for refundId in string.gmatch(ARGV[5], '[^,]+') do
  if not string.find(',' .. known .. ',', ',' .. refundId .. ',', 1, true) then
    known = known == '' and refundId or (known .. ',' .. refundId)
  end
end
record.refundIds = known

local target = math.min(cumulative, tonumber(record.amountMicros))
local already = tonumber(record.refundedMicros) or 0
local debited = 0
local outcome = 'duplicate'
local fields = {}
if target > already then
  debited = target - already
  local entry
  balance, entry = book_entry(credits, 'refunded', -debited, ARGV[4])
  fields = { 'l', entry }
  record.refundedMicros = target
  outcome = 'refunded'
end

save_session(sessions, outbox, sessionId, record, fields,
  { id = eventId, type = ARGV[8], outcome = outcome, at = now })
return { outcome, balance, debited }
