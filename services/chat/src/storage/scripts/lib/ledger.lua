-- The AI-credit balance moves only with a ledger entry that says why (balance = Σ ledger entries).
-- book_entry(credits, total, amount, entry) moves the balance and the running total `total` by
-- `amount` (signed) and returns the balance after it and the ledger entry (JSON, without amount and
-- balance) completed with both, for the history outbox.
local function book_entry(credits, total, amount, entry)
  local balance = redis.call('HINCRBY', credits, 'balance', amount)
  redis.call('HINCRBY', credits, total, amount)
  local booked = cjson.decode(entry)
  booked.amountMicros = amount
  booked.balanceAfterMicros = balance
  return balance, cjson.encode(booked)
end
