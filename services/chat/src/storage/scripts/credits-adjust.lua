-- Changes the AI-credit balance by a signed amount and appends the ledger entry that says why to
-- the history outbox (drained to PostgreSQL), in one step.
-- Invariant: balance = Σ ledger entries (PostgreSQL's plus the outbox's undrained tail).
-- KEYS[1] credits, KEYS[2] the history outbox.
-- ARGV[1] amount (micro-USD, signed), ARGV[2] running-total field ("granted", "adjusted", …),
-- ARGV[3] ledger entry id, ARGV[4] ledger entry JSON (without amount and balance),
-- ARGV[5] "allow-negative" when the balance may go below zero.
-- Returns {"ok", balance} or {"insufficient", balance}.
--#include lib/ledger.lua
local credits, outbox = KEYS[1], KEYS[2]
local amount = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', credits, 'balance')) or 0
if current + amount < 0 and ARGV[5] ~= 'allow-negative' then return { 'insufficient', current } end
local balance, entry = book_entry(credits, ARGV[2], amount, ARGV[4])
redis.call('XADD', outbox, '*', 'l', entry)
return { 'ok', balance }
