-- History moves out of Redis: the credit ledger, the LLM-call log and Stripe's processed events.
-- Rows arrive from the Redis outbox stream (domain/history/drainer.ts), at least once: every table
-- is keyed by the id minted in Redis, so a redelivered entry is a no-op (ON CONFLICT DO NOTHING).
-- outbox_ms/outbox_seq is the entry's position in its organization's stream: the reconcile counts
-- what was drained up to a Redis snapshot, and the rest from the stream itself.

CREATE TABLE ledger_entries (
  id text PRIMARY KEY,
  organization_id text NOT NULL,
  type text NOT NULL,
  amount_micros bigint NOT NULL,
  balance_after_micros bigint NOT NULL,
  agent_id text,
  conversation_id text,
  call_id text,
  stripe_session_id text,
  stripe_charge_id text,
  actor text NOT NULL,
  reason text,
  created_at timestamptz NOT NULL,
  outbox_ms bigint NOT NULL,
  outbox_seq bigint NOT NULL
);
-- Keyset pages walk ids (time-sortable) newest first, per organization and per filter. Every
-- index costs ingest time (the drainer's throughput): none beyond what a read uses.
CREATE INDEX ledger_entries_organization ON ledger_entries (organization_id, id DESC);
CREATE INDEX ledger_entries_type ON ledger_entries (organization_id, type, id DESC);
CREATE INDEX ledger_entries_agent ON ledger_entries (organization_id, agent_id, id DESC)
  WHERE agent_id IS NOT NULL;
CREATE INDEX ledger_entries_created ON ledger_entries (organization_id, created_at);

-- One partition a calendar month (UTC), created by the drainer before it writes a month's first
-- row; retention drops whole partitions (storage/database/history-store.ts).
CREATE TABLE llm_calls (
  id text NOT NULL,
  organization_id text NOT NULL,
  agent_id text NOT NULL,
  conversation_id text NOT NULL,
  visitor_id text,
  external_user_id text,
  model text NOT NULL,
  step_number integer NOT NULL,
  status text NOT NULL,
  input_tokens bigint NOT NULL,
  cached_input_tokens bigint NOT NULL,
  output_tokens bigint NOT NULL,
  reasoning_tokens bigint NOT NULL,
  usage_estimated boolean NOT NULL,
  -- What was booked against the caps and credits (at most the call's hold), what the model server's
  -- usage came to, the excess not booked, and who settled the call (stream, journal or expiry).
  cost_micros bigint NOT NULL,
  reported_cost_micros bigint NOT NULL,
  overage_micros bigint NOT NULL,
  settled_by text NOT NULL,
  latency_ms bigint NOT NULL,
  time_to_first_token_ms bigint,
  finish_reason text,
  tool_calls jsonb NOT NULL,
  error text,
  created_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  -- The budget period (its id, the day it starts) whose Redis counters the call was added to.
  budget_period text NOT NULL,
  outbox_ms bigint NOT NULL,
  outbox_seq bigint NOT NULL,
  PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);
CREATE INDEX llm_calls_agent ON llm_calls (organization_id, agent_id, id DESC);
CREATE INDEX llm_calls_user ON llm_calls (organization_id, agent_id, external_user_id, created_at);
CREATE INDEX llm_calls_period ON llm_calls (organization_id, agent_id, budget_period);

CREATE TABLE stripe_events (
  id text PRIMARY KEY,
  organization_id text NOT NULL,
  type text NOT NULL,
  outcome text NOT NULL,
  session_id text,
  processed_at timestamptz NOT NULL
);
CREATE INDEX stripe_events_organization ON stripe_events (organization_id, processed_at);
