-- The usage reports (an agent's period totals and days, its users ranked by spend, the embeds
-- overview) read llm_calls instead of Redis counters. Each asks for one organization's agent (or
-- agents) over a budget period, [start, end) of created_at: the partition key, so only the one or
-- two monthly partitions the period overlaps are read. The columns the reports add up ride in the
-- index (INCLUDE), so a report is an index-only scan: it never visits the wide rows (tool calls,
-- errors) in the heap. One more index the drainer maintains per row; the reports are its only use.
-- On a partitioned table this builds the index on every partition, blocking the drainer's writes
-- meanwhile (they wait, the outbox holds them): on a large history, run `npm run migrate` at a
-- quiet hour first.
CREATE INDEX llm_calls_usage ON llm_calls (organization_id, agent_id, created_at)
  INCLUDE (external_user_id, conversation_id, cost_micros, input_tokens, output_tokens);
