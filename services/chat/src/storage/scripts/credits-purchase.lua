-- Credits one paid Stripe Checkout Session, exactly once: the check of the session's `credited`
-- flag, the balance, the purchase entry and the flag itself change in one step, so duplicate,
-- retried, reordered or concurrent deliveries (webhooks and syncs alike) credit it once.
-- Invariant: balance = sum of the ledger entries; a credited session has exactly one purchase entry.
-- The ledger entry and the processed event go to the history outbox (drained to PostgreSQL, where
-- an event id is kept once) in the same step.
-- KEYS[1] credits, KEYS[2] the history outbox, KEYS[3] the organization's Checkout Sessions.
-- ARGV[1] session id, ARGV[2] amount (micro-USD, positive), ARGV[3] ledger entry id, ARGV[4] ledger
-- entry JSON (without amount and balance), ARGV[5] the session record to start from when none is
-- stored (a session created outside this service's checkout route), ARGV[6] PaymentIntent id (""
-- when unknown), ARGV[7] event id ("" for a sync), ARGV[8] event type, ARGV[9] now (ISO).
-- Returns {outcome, balance, ledger entry id}: outcome "credited", "duplicate" or "amount_mismatch"
-- (the session was recorded for another amount: nothing is credited, the reconcile reports it).
--#include lib/ledger.lua
--#include lib/checkout-sessions.lua
local credits, outbox, sessions = KEYS[1], KEYS[2], KEYS[3]
local sessionId, amount, entryId = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local paymentIntent, eventId, now = ARGV[6], ARGV[7], ARGV[9]

local stored = redis.call('HGET', sessions, sessionId)
local record = cjson.decode(stored or ARGV[5])
local balance = tonumber(redis.call('HGET', credits, 'balance')) or 0
local outcome
local fields = {}

if record.credited == true then
  outcome = 'duplicate'
elseif tonumber(record.amountMicros) ~= amount then
  outcome = 'amount_mismatch'
else
  local entry
  balance, entry = book_entry(credits, 'purchased', amount, ARGV[4])
  fields = { 'l', entry }
  record.credited = true
  record.status = 'paid'
  record.creditedAt = now
  record.ledgerEntryId = entryId
  outcome = 'credited'
end

if paymentIntent ~= '' and type(record.paymentIntentId) ~= 'string' then
  record.paymentIntentId = paymentIntent
end
save_session(sessions, outbox, sessionId, record, fields,
  { id = eventId, type = ARGV[8], outcome = outcome, at = now })
local creditedEntry = record.ledgerEntryId
if type(creditedEntry) ~= 'string' then creditedEntry = '' end
return { outcome, balance, creditedEntry }
