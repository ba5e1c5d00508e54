-- A Checkout Session's record changes in the step that moves its money, with the Stripe event that
-- changed it kept as processed (once, by its id, in PostgreSQL).
-- save_session(sessions, outbox, id, record, fields, event) stores the record and appends `fields`
-- (the ledger entry, if any) and the processed event (`event.id` "" for none: a sync) to the history
-- outbox in one entry.
local function save_session(sessions, outbox, id, record, fields, event)
  redis.call('HSET', sessions, id, cjson.encode(record))
  if event.id ~= '' then
    table.insert(fields, 's')
    local processed = { id = event.id, type = event.type, outcome = event.outcome, sessionId = id, at = event.at }
    table.insert(fields, cjson.encode(processed))
  end
  if #fields > 0 then redis.call('XADD', outbox, '*', unpack(fields)) end
end
