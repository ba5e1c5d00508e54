import type { LedgerEntryRecord, LedgerEntryType } from '../../domain/credits/ledger-entry.ts';
import type { LlmCallRecord } from '../../domain/history/llm-calls.ts';
import type { HistoryBatch, OutboxPosition, StripeEventRecord } from '../../domain/history/outbox.ts';
import { microsToUsd } from '../../domain/money.ts';
import type { Page, PageRequest } from '../collection.ts';
import type { Database, Queryable } from './database.ts';
import { migrate } from './migrate.ts';

/** Which ledger entries a page shows (the API's query, parsed). */
export interface LedgerFilter {
  /** null: every type. */
  types: ReadonlySet<LedgerEntryType> | null;
  agentId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

/** One agent's LLM calls of a budget period, by user: what its counters in Redis must hold. */
export interface CallGroup {
  agentId: string;
  /** null: anonymous visitors' calls (the `anon` counter). */
  externalUserId: string | null;
  costMicros: number;
}

/** A half-open time range of the calls' `createdAt`: from (inclusive) to (exclusive). */
export interface TimeRange {
  from: Date;
  to: Date;
}

/** What an agent's LLM calls over a time range add up to: the usage reports' totals. */
export interface UsageTotals {
  spendMicros: number;
  /** The part of the spend from anonymous visitors' calls (no external user id). */
  anonymousMicros: number;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** Distinct identified users (external user ids). */
  users: number;
  conversations: number;
}

/** One UTC day of an agent's calls. */
export interface UsageDay {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  spendMicros: number;
  calls: number;
}

/** An identified user's place in an agent's spend ranking: spend descending, then id ascending. */
export interface UserSpend {
  externalUserId: string;
  spendMicros: number;
}

/**
 * The history in PostgreSQL, behind the few questions the service asks of it. Writes come only
 * from the drainer and are idempotent (ids are primary keys); reads page by id (time-sortable),
 * newest first, with an index for every filter.
 */
export interface HistoryStore {
  readonly kind: Database['kind'];
  /** The database itself, for operators' scripts and tests; the service asks only the methods. */
  readonly database: Database;
  /** Applies pending migrations; every other method waits for it. */
  ready(): Promise<void>;
  /** Writes one drained batch in one transaction; rows already written are skipped. */
  write(batch: HistoryBatch): Promise<void>;
  listLedger(
    organizationId: string,
    filter: LedgerFilter,
    page: PageRequest,
  ): Promise<Page<LedgerEntryRecord>>;
  listLlmCalls(
    organizationId: string,
    agentId: string,
    page: PageRequest,
    filter?: LlmCallFilter,
  ): Promise<Page<LlmCallRecord>>;
  /** Σ amount and count by entry type, of the entries drained up to `upTo` (all when omitted). */
  ledgerTotals(
    organizationId: string,
    upTo?: DrainedBound,
  ): Promise<Array<{ type: LedgerEntryType; sumMicros: number; count: number }>>;
  /** The purchase and refund entries (few: one a payment), for the Stripe checks of the reconcile. */
  paymentEntries(organizationId: string, upTo?: DrainedBound): Promise<LedgerEntryRecord[]>;
  /** An agent's calls booked in one budget period, Σ cost by user (null: anonymous). */
  callGroups(
    organizationId: string,
    agentId: string,
    period: string,
    upTo?: DrainedBound,
  ): Promise<CallGroup[]>;
  /** Σ cost of the calls by calendar month (UTC, `YYYY-MM`), for the credits' `spent:` fields. */
  monthlySpend(organizationId: string, upTo?: DrainedBound): Promise<Map<string, number>>;
  /** Each agent's totals over `range`; an agent without calls there is absent from the map. */
  usageTotals(
    organizationId: string,
    agentIds: readonly string[],
    range: TimeRange,
  ): Promise<Map<string, UsageTotals>>;
  /** An agent's spend and calls by UTC day over `range`, oldest first; days without calls absent. */
  usageByDay(organizationId: string, agentId: string, range: TimeRange): Promise<UsageDay[]>;
  /**
   * An agent's identified users by their spend over `range`, highest first (ties by id), up to
   * `limit`, starting after `after` (the last of the previous page): a keyset page.
   */
  userSpendRanking(
    organizationId: string,
    agentId: string,
    range: TimeRange,
    page: { limit: number; after?: UserSpend | undefined },
  ): Promise<UserSpend[]>;
  /** Every identified user of each agent, ever. */
  agentUsers(organizationId: string): Promise<Map<string, string[]>>;
  stripeEvent(organizationId: string, eventId: string): Promise<StripeEventRecord | null>;
  /** Drops the monthly LLM-call partitions wholly older than `cutoff`; returns their names. */
  dropLlmCallPartitionsBefore(cutoff: Date): Promise<string[]>;
  close(): Promise<void>;
}

/** What the LLM-call log can be narrowed to (all optional, combined). */
export interface LlmCallFilter {
  /** One signed-in user's calls (`externalUserId`). */
  externalUserId?: string;
  status?: LlmCallRecord['status'];
  /** Calls metered from estimated usage (the model server reported none). */
  usageEstimated?: boolean;
  /** Calls flagged for review: the reported usage cost more than the hold, or a dead instance's hold. */
  flagged?: boolean;
}

const monthName = (at: Date) => `${at.getUTCFullYear()}_${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
const partitionPattern = /^llm_calls_p(\d{4})_(\d{2})$/;

/** Postgres error codes of a partition another instance created at the same moment. */
const alreadyExists = new Set(['42P07', '23505', '42P17']);

interface LedgerRow {
  id: string;
  organization_id: string;
  type: LedgerEntryType;
  amount_micros: number;
  balance_after_micros: number;
  agent_id: string | null;
  conversation_id: string | null;
  call_id: string | null;
  stripe_session_id: string | null;
  stripe_charge_id: string | null;
  actor: string;
  reason: string | null;
  created_at: Date;
}

function ledgerEntryOf(row: LedgerRow): LedgerEntryRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    type: row.type,
    amountMicros: Number(row.amount_micros),
    balanceAfterMicros: Number(row.balance_after_micros),
    reference: {
      agentId: row.agent_id,
      conversationId: row.conversation_id,
      callId: row.call_id,
      stripeSessionId: row.stripe_session_id,
      stripeChargeId: row.stripe_charge_id,
    },
    actor: row.actor,
    reason: row.reason,
    createdAt: new Date(row.created_at).toISOString(),
  };
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
 * What was drained as of a Redis snapshot: rows up to the stream's last id then, less the ids
 * still in the stream (written but not yet deleted: the snapshot's tail counts them).
 */
export interface DrainedBound {
  upTo: OutboxPosition;
  exclude: readonly string[];
}

function upToClause(bound: DrainedBound | undefined, params: unknown[]): string {
  if (!bound) return '';
  params.push(bound.upTo.milliseconds, bound.upTo.sequence, bound.exclude);
  const at = params.length;
  return ` AND (outbox_ms, outbox_seq) <= ($${at - 2}, $${at - 1}) AND id <> ALL($${at}::text[])`;
}

export function createHistoryStore(database: Database): HistoryStore {
  let migrated: Promise<void> | undefined;
  const ready = () => {
    migrated ??= migrate(database).then(() => undefined);
    return migrated;
  };
  const knownPartitions = new Set<string>();

  async function ensurePartition(at: Date) {
    const name = monthName(at);
    if (knownPartitions.has(name)) return;
    const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
    const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
    try {
      await database.exec(
        `CREATE TABLE IF NOT EXISTS llm_calls_p${name} PARTITION OF llm_calls FOR VALUES FROM ('${start.toISOString()}') TO ('${end.toISOString()}')`,
      );
    } catch (error) {
      if (!alreadyExists.has((error as { code?: string }).code ?? '')) throw error;
    }
    knownPartitions.add(name);
  }

  async function insertLedger(transaction: Queryable, rows: HistoryBatch['ledger']) {
    if (rows.length === 0) return;
    const column = <T>(pick: (row: HistoryBatch['ledger'][number]) => T) => rows.map(pick);
    await transaction.query(
      `INSERT INTO ledger_entries (id, organization_id, type, amount_micros, balance_after_micros, agent_id,
         conversation_id, call_id, stripe_session_id, stripe_charge_id, actor, reason, created_at, outbox_ms, outbox_seq)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::bigint[], $15::bigint[])
       ON CONFLICT (id) DO NOTHING`,
      [
        column((row) => row.id),
        column((row) => row.organizationId),
        column((row) => row.type),
        column((row) => row.amountMicros),
        column((row) => row.balanceAfterMicros),
        column((row) => row.reference.agentId),
        column((row) => row.reference.conversationId),
        column((row) => row.reference.callId),
        column((row) => row.reference.stripeSessionId),
        column((row) => row.reference.stripeChargeId),
        column((row) => row.actor),
        column((row) => row.reason),
        column((row) => row.createdAt),
        column((row) => row.position.milliseconds),
        column((row) => row.position.sequence),
      ],
    );
  }

  async function insertCalls(transaction: Queryable, rows: HistoryBatch['calls']) {
    if (rows.length === 0) return;
    const column = <T>(pick: (row: HistoryBatch['calls'][number]) => T) => rows.map(pick);
    await transaction.query(
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
      [
        column((row) => row.id),
        column((row) => row.organizationId),
        column((row) => row.agentId),
        column((row) => row.conversationId),
        column((row) => row.visitorId),
        column((row) => row.externalUserId),
        column((row) => row.model),
        column((row) => row.stepNumber),
        column((row) => row.status),
        column((row) => row.inputTokens),
        column((row) => row.cachedInputTokens),
        column((row) => row.outputTokens),
        column((row) => row.reasoningTokens),
        column((row) => row.usageEstimated),
        column((row) => row.costMicros),
        column((row) => row.latencyMs),
        column((row) => row.timeToFirstTokenMs),
        column((row) => row.finishReason),
        column((row) => JSON.stringify(row.toolCalls)),
        column((row) => row.error),
        column((row) => row.createdAt),
        column((row) => row.finishedAt),
        column((row) => row.budgetPeriod),
        column((row) => row.position.milliseconds),
        column((row) => row.position.sequence),
        column((row) => row.reportedCostMicros ?? row.costMicros),
        column((row) => row.overageMicros ?? 0),
        column((row) => row.settledBy ?? 'stream'),
      ],
    );
  }

  async function insertStripeEvents(transaction: Queryable, rows: HistoryBatch['stripeEvents']) {
    if (rows.length === 0) return;
    await transaction.query(
      `INSERT INTO stripe_events (id, organization_id, type, outcome, session_id, processed_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
       ON CONFLICT (id) DO NOTHING`,
      [
        rows.map((row) => row.id),
        rows.map((row) => row.organizationId),
        rows.map((row) => row.type),
        rows.map((row) => row.outcome),
        rows.map((row) => row.sessionId),
        rows.map((row) => row.at),
      ],
    );
  }

  return {
    kind: database.kind,
    database,
    ready,

    async write(batch) {
      await ready();
      for (const call of batch.calls) await ensurePartition(new Date(call.createdAt));
      await database.transaction(async (transaction) => {
        await insertLedger(transaction, batch.ledger);
        await insertCalls(transaction, batch.calls);
        await insertStripeEvents(transaction, batch.stripeEvents);
      });
    },

    async listLedger(organizationId, filter, page) {
      await ready();
      const params: unknown[] = [organizationId];
      let where = 'organization_id = $1';
      if (filter.types) {
        params.push([...filter.types]);
        where += ` AND type = ANY($${params.length}::text[])`;
      }
      if (filter.agentId !== undefined) {
        params.push(filter.agentId);
        where += ` AND agent_id = $${params.length}`;
      }
      if (filter.from) {
        params.push(filter.from.toISOString());
        where += ` AND created_at >= $${params.length}`;
      }
      if (filter.to) {
        params.push(filter.to.toISOString());
        where += ` AND created_at < $${params.length}`;
      }
      if (page.cursor) {
        params.push(page.cursor);
        where += ` AND id < $${params.length}`;
      }
      params.push(page.limit + 1);
      const rows = await database.query<LedgerRow>(
        `SELECT * FROM ledger_entries WHERE ${where} ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      const data = rows.slice(0, page.limit).map(ledgerEntryOf);
      return { data, nextCursor: rows.length > page.limit ? (data.at(-1)?.id ?? null) : null };
    },

    async listLlmCalls(organizationId, agentId, page, filter = {}) {
      await ready();
      const params: unknown[] = [organizationId, agentId];
      let where = 'organization_id = $1 AND agent_id = $2';
      if (filter.externalUserId !== undefined) {
        params.push(filter.externalUserId);
        where += ` AND external_user_id = $${params.length}`;
      }
      if (filter.status !== undefined) {
        params.push(filter.status);
        where += ` AND status = $${params.length}`;
      }
      if (filter.usageEstimated !== undefined) {
        params.push(filter.usageEstimated);
        where += ` AND usage_estimated = $${params.length}`;
      }
      if (filter.flagged !== undefined) {
        where += filter.flagged
          ? ` AND (overage_micros > 0 OR settled_by = 'expiry')`
          : ` AND overage_micros = 0 AND settled_by <> 'expiry'`;
      }
      if (page.cursor) {
        params.push(page.cursor);
        where += ` AND id < $${params.length}`;
      }
      params.push(page.limit + 1);
      const rows = await database.query<CallRow>(
        `SELECT * FROM llm_calls WHERE ${where} ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      const data = rows.slice(0, page.limit).map(llmCallOf);
      return { data, nextCursor: rows.length > page.limit ? (data.at(-1)?.id ?? null) : null };
    },

    async ledgerTotals(organizationId, upTo) {
      await ready();
      const params: unknown[] = [organizationId];
      const bound = upToClause(upTo, params);
      const rows = await database.query<{ type: LedgerEntryType; sum: number; count: number }>(
        `SELECT type, sum(amount_micros)::bigint AS sum, count(*)::bigint AS count FROM ledger_entries
         WHERE organization_id = $1${bound} GROUP BY type`,
        params,
      );
      return rows.map((row) => ({ type: row.type, sumMicros: Number(row.sum), count: Number(row.count) }));
    },

    async paymentEntries(organizationId, upTo) {
      await ready();
      const params: unknown[] = [organizationId];
      const bound = upToClause(upTo, params);
      const rows = await database.query<LedgerRow>(
        `SELECT * FROM ledger_entries WHERE organization_id = $1 AND type IN ('purchase', 'refund')${bound}
         ORDER BY id`,
        params,
      );
      return rows.map(ledgerEntryOf);
    },

    async callGroups(organizationId, agentId, period, upTo) {
      await ready();
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
    },

    async monthlySpend(organizationId, upTo) {
      await ready();
      const params: unknown[] = [organizationId];
      const bound = upToClause(upTo, params);
      const rows = await database.query<{ month: string; cost: number }>(
        `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, sum(cost_micros)::bigint AS cost
         FROM llm_calls WHERE organization_id = $1 AND cost_micros > 0${bound} GROUP BY 1`,
        params,
      );
      return new Map(rows.map((row) => [row.month, Number(row.cost)]));
    },

    async usageTotals(organizationId, agentIds, range) {
      await ready();
      if (agentIds.length === 0) return new Map();
      const rows = await database.query<{
        agent_id: string;
        spend: number;
        anonymous: number;
        calls: number;
        input: number;
        output: number;
        users: number;
        conversations: number;
      }>(
        `SELECT agent_id, sum(cost_micros)::bigint AS spend,
           coalesce(sum(cost_micros) FILTER (WHERE external_user_id IS NULL), 0)::bigint AS anonymous,
           count(*)::bigint AS calls, sum(input_tokens)::bigint AS input, sum(output_tokens)::bigint AS output,
           count(DISTINCT external_user_id)::bigint AS users, count(DISTINCT conversation_id)::bigint AS conversations
         FROM llm_calls WHERE organization_id = $1 AND agent_id = ANY($2::text[])
           AND created_at >= $3 AND created_at < $4
         GROUP BY agent_id`,
        [organizationId, [...agentIds], range.from.toISOString(), range.to.toISOString()],
      );
      return new Map(
        rows.map((row) => [
          row.agent_id,
          {
            spendMicros: Number(row.spend),
            anonymousMicros: Number(row.anonymous),
            calls: Number(row.calls),
            inputTokens: Number(row.input),
            outputTokens: Number(row.output),
            users: Number(row.users),
            conversations: Number(row.conversations),
          },
        ]),
      );
    },

    async usageByDay(organizationId, agentId, range) {
      await ready();
      // Grouped by the date, formatted once a day rather than once a row.
      const rows = await database.query<{ day: string; spend: number; calls: number }>(
        `SELECT to_char(day, 'YYYY-MM-DD') AS day, spend, calls FROM (
           SELECT (created_at AT TIME ZONE 'UTC')::date AS day, sum(cost_micros)::bigint AS spend,
             count(*)::bigint AS calls
           FROM llm_calls WHERE organization_id = $1 AND agent_id = $2 AND created_at >= $3 AND created_at < $4
           GROUP BY 1) AS days
         ORDER BY days.day`,
        [organizationId, agentId, range.from.toISOString(), range.to.toISOString()],
      );
      return rows.map((row) => ({ day: row.day, spendMicros: Number(row.spend), calls: Number(row.calls) }));
    },

    async userSpendRanking(organizationId, agentId, range, page) {
      await ready();
      const params: unknown[] = [organizationId, agentId, range.from.toISOString(), range.to.toISOString()];
      // Ids compare byte-wise (COLLATE "C"): the same order on every server, whatever its locale.
      let after = '';
      if (page.after) {
        params.push(page.after.spendMicros, page.after.externalUserId);
        after = `HAVING sum(cost_micros) < $5
          OR (sum(cost_micros) = $5 AND external_user_id COLLATE "C" > $6)`;
      }
      params.push(page.limit);
      const rows = await database.query<{ external_user_id: string; spend: number }>(
        `SELECT external_user_id, sum(cost_micros)::bigint AS spend
         FROM llm_calls WHERE organization_id = $1 AND agent_id = $2 AND created_at >= $3 AND created_at < $4
           AND external_user_id IS NOT NULL
         GROUP BY external_user_id ${after}
         ORDER BY spend DESC, external_user_id COLLATE "C"
         LIMIT $${params.length}`,
        params,
      );
      return rows.map((row) => ({ externalUserId: row.external_user_id, spendMicros: Number(row.spend) }));
    },

    async agentUsers(organizationId) {
      await ready();
      const rows = await database.query<{ agent_id: string; external_user_id: string }>(
        `SELECT DISTINCT agent_id, external_user_id FROM llm_calls
         WHERE organization_id = $1 AND external_user_id IS NOT NULL`,
        [organizationId],
      );
      const users = new Map<string, string[]>();
      for (const row of rows)
        users.set(row.agent_id, [...(users.get(row.agent_id) ?? []), row.external_user_id]);
      return users;
    },

    async stripeEvent(organizationId, eventId) {
      await ready();
      const [row] = await database.query<{
        id: string;
        type: string;
        outcome: string;
        session_id: string | null;
        processed_at: Date;
      }>('SELECT * FROM stripe_events WHERE organization_id = $1 AND id = $2', [organizationId, eventId]);
      if (!row) return null;
      return {
        id: row.id,
        organizationId,
        type: row.type,
        outcome: row.outcome,
        sessionId: row.session_id,
        at: new Date(row.processed_at).toISOString(),
      };
    },

    async dropLlmCallPartitionsBefore(cutoff) {
      await ready();
      const rows = await database.query<{ name: string }>(
        `SELECT child.relname AS name FROM pg_inherits
         JOIN pg_class child ON child.oid = pg_inherits.inhrelid
         JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
         WHERE parent.relname = 'llm_calls'`,
      );
      const dropped: string[] = [];
      for (const { name } of rows) {
        const match = partitionPattern.exec(name);
        if (!match) continue;
        const end = Date.UTC(Number(match[1]), Number(match[2]), 1);
        if (end > cutoff.getTime()) continue;
        await database.exec(`DROP TABLE IF EXISTS ${name}`);
        knownPartitions.delete(`${match[1]}_${match[2]}`);
        dropped.push(name);
      }
      return dropped;
    },

    close: () => database.close(),
  };
}
