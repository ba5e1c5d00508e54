import type { LlmCallFilter, LlmCallRecord } from '../../domain/history/llm-calls.ts';
import type { HistoryBatch } from '../../domain/history/outbox.ts';
import { microsToUsd } from '../../domain/money.ts';
import type { Page, PageRequest } from '../collection.ts';
import type { Queryable } from './database.ts';
import { type DrainedBound, upToClause } from './drained-bound.ts';
import { Conditions, keysetPage } from './keyset-page.ts';
import { insertColumns } from './unnest-insert.ts';

/** One agent's LLM calls of a budget period, by user: what its counters in Redis must hold. */
export interface CallGroup {
  agentId: string;
  /** null: anonymous visitors' calls (the `anon` counter). */
  externalUserId: string | null;
  costMicros: number;
}

interface CallRow {
  id: string;
  organization_id: string;
  agent_id: string;
  conversation_id: string;
  visitor_id: string | null;
  external_user_id: string | null;
  model: string;
  step_number: number;
  status: LlmCallRecord['status'];
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  usage_estimated: boolean;
  cost_micros: number;
  reported_cost_micros: number;
  overage_micros: number;
  settled_by: NonNullable<LlmCallRecord['settledBy']>;
  latency_ms: number;
  time_to_first_token_ms: number | null;
  finish_reason: string | null;
  tool_calls: LlmCallRecord['toolCalls'];
  error: string | null;
  created_at: Date;
  finished_at: Date;
}

function llmCallOf(row: CallRow): LlmCallRecord {
  const costMicros = Number(row.cost_micros);
  return {
    id: row.id,
    organizationId: row.organization_id,
    agentId: row.agent_id,
    conversationId: row.conversation_id,
    visitorId: row.visitor_id,
    externalUserId: row.external_user_id,
    model: row.model,
    stepNumber: Number(row.step_number),
    status: row.status,
    inputTokens: Number(row.input_tokens),
    cachedInputTokens: Number(row.cached_input_tokens),
    outputTokens: Number(row.output_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    usageEstimated: row.usage_estimated,
    costMicros,
    costUsd: microsToUsd(costMicros),
    reportedCostMicros: Number(row.reported_cost_micros),
    overageMicros: Number(row.overage_micros),
    settledBy: row.settled_by,
    latencyMs: Number(row.latency_ms),
    timeToFirstTokenMs: row.time_to_first_token_ms === null ? null : Number(row.time_to_first_token_ms),
    finishReason: row.finish_reason,
    toolCalls: typeof row.tool_calls === 'string' ? JSON.parse(row.tool_calls) : row.tool_calls,
    error: row.error,
    createdAt: new Date(row.created_at).toISOString(),
    finishedAt: new Date(row.finished_at).toISOString(),
  };
}

/**
 * Writes drained LLM calls; a call already written is skipped. Each call's monthly partition must
 * exist first (`LlmCallPartitions.ensure`).
 */
export async function insertLlmCalls(transaction: Queryable, rows: HistoryBatch['calls']): Promise<void> {
  await insertColumns(
    transaction,
    `INSERT INTO llm_calls (id, organization_id, agent_id, conversation_id, visitor_id, external_user_id, model,
       step_number, status, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, usage_estimated,
       cost_micros, latency_ms, time_to_first_token_ms, finish_reason, tool_calls, error, created_at, finished_at,
       budget_period, outbox_ms, outbox_seq, reported_cost_micros, overage_micros, settled_by)
     SELECT id, organization_id, agent_id, conversation_id, visitor_id, external_user_id, model, step_number,
       status, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, usage_estimated, cost_micros,
       latency_ms, time_to_first_token_ms, finish_reason, tool_calls::jsonb, error, created_at, finished_at,
       budget_period, outbox_ms, outbox_seq, reported_cost_micros, overage_micros, settled_by
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
       $8::integer[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::boolean[],
       $15::bigint[], $16::bigint[], $17::bigint[], $18::text[], $19::text[], $20::text[], $21::timestamptz[],
       $22::timestamptz[], $23::text[], $24::bigint[], $25::bigint[], $26::bigint[], $27::bigint[], $28::text[])
       AS t(id, organization_id, agent_id, conversation_id, visitor_id, external_user_id, model, step_number,
       status, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, usage_estimated, cost_micros,
       latency_ms, time_to_first_token_ms, finish_reason, tool_calls, error, created_at, finished_at,
       budget_period, outbox_ms, outbox_seq, reported_cost_micros, overage_micros, settled_by)
     ON CONFLICT (created_at, id) DO NOTHING`,
    rows,
    [
      (row) => row.id,
      (row) => row.organizationId,
      (row) => row.agentId,
      (row) => row.conversationId,
      (row) => row.visitorId,
      (row) => row.externalUserId,
      (row) => row.model,
      (row) => row.stepNumber,
      (row) => row.status,
      (row) => row.inputTokens,
      (row) => row.cachedInputTokens,
      (row) => row.outputTokens,
      (row) => row.reasoningTokens,
      (row) => row.usageEstimated,
      (row) => row.costMicros,
      (row) => row.latencyMs,
      (row) => row.timeToFirstTokenMs,
      (row) => row.finishReason,
      (row) => JSON.stringify(row.toolCalls),
      (row) => row.error,
      (row) => row.createdAt,
      (row) => row.finishedAt,
      (row) => row.budgetPeriod,
      (row) => row.position.milliseconds,
      (row) => row.position.sequence,
      (row) => row.reportedCostMicros ?? row.costMicros,
      (row) => row.overageMicros ?? 0,
      (row) => row.settledBy ?? 'stream',
    ],
  );
}

export function listLlmCalls(
  database: Queryable,
  organizationId: string,
  agentId: string,
  page: PageRequest,
  filter: LlmCallFilter = {},
): Promise<Page<LlmCallRecord>> {
  const where = new Conditions();
  where.add(`organization_id = ${where.bind(organizationId)}`);
  where.add(`agent_id = ${where.bind(agentId)}`);
  if (filter.externalUserId !== undefined)
    where.add(`external_user_id = ${where.bind(filter.externalUserId)}`);
  if (filter.status !== undefined) where.add(`status = ${where.bind(filter.status)}`);
  if (filter.usageEstimated !== undefined)
    where.add(`usage_estimated = ${where.bind(filter.usageEstimated)}`);
  if (filter.flagged !== undefined) {
    where.add(
      filter.flagged
        ? `(overage_micros > 0 OR settled_by = 'expiry')`
        : `overage_micros = 0 AND settled_by <> 'expiry'`,
    );
  }
  return keysetPage(database, 'llm_calls', where, page, llmCallOf);
}

/** An agent's calls booked in one budget period, Σ cost by user (null: anonymous). */
export async function callGroups(
  database: Queryable,
  organizationId: string,
  agentId: string,
  period: string,
  upTo?: DrainedBound,
): Promise<CallGroup[]> {
  const params: unknown[] = [organizationId, agentId, period];
  const bound = upToClause(upTo, params);
  const rows = await database.query<{ agent_id: string; external_user_id: string | null; cost: number }>(
    `SELECT agent_id, external_user_id, sum(cost_micros)::bigint AS cost
     FROM llm_calls WHERE organization_id = $1 AND agent_id = $2 AND budget_period = $3${bound}
     GROUP BY 1, 2`,
    params,
  );
  return rows.map((row) => ({
    agentId: row.agent_id,
    externalUserId: row.external_user_id,
    costMicros: Number(row.cost),
  }));
}

/** Σ cost of the calls by calendar month (UTC, `YYYY-MM`), for the credits' `spent:` fields. */
export async function monthlySpend(
  database: Queryable,
  organizationId: string,
  upTo?: DrainedBound,
): Promise<Map<string, number>> {
  const params: unknown[] = [organizationId];
  const bound = upToClause(upTo, params);
  const rows = await database.query<{ month: string; cost: number }>(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, sum(cost_micros)::bigint AS cost
     FROM llm_calls WHERE organization_id = $1 AND cost_micros > 0${bound} GROUP BY 1`,
    params,
  );
  return new Map(rows.map((row) => [row.month, Number(row.cost)]));
}
