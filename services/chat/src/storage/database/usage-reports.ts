import type { Queryable } from './database.ts';

/**
 * The usage reports' questions of the LLM-call log: totals, days and rankings of an agent's calls
 * over a time range.
 */

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

/** Each agent's totals over `range`; an agent without calls there is absent from the map. */
export async function usageTotals(
  database: Queryable,
  organizationId: string,
  agentIds: readonly string[],
  range: TimeRange,
): Promise<Map<string, UsageTotals>> {
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
}

/** An agent's spend and calls by UTC day over `range`, oldest first; days without calls absent. */
export async function usageByDay(
  database: Queryable,
  organizationId: string,
  agentId: string,
  range: TimeRange,
): Promise<UsageDay[]> {
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
}

/**
 * An agent's identified users by their spend over `range`, highest first (ties by id), up to
 * `limit`, starting after `after` (the last of the previous page): a keyset page.
 */
export async function userSpendRanking(
  database: Queryable,
  organizationId: string,
  agentId: string,
  range: TimeRange,
  page: { limit: number; after?: UserSpend | undefined },
): Promise<UserSpend[]> {
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
}

/** Every identified user of each agent, ever. */
export async function agentUsers(
  database: Queryable,
  organizationId: string,
): Promise<Map<string, string[]>> {
  const rows = await database.query<{ agent_id: string; external_user_id: string }>(
    `SELECT DISTINCT agent_id, external_user_id FROM llm_calls
     WHERE organization_id = $1 AND external_user_id IS NOT NULL`,
    [organizationId],
  );
  const users = new Map<string, string[]>();
  for (const row of rows) users.set(row.agent_id, [...(users.get(row.agent_id) ?? []), row.external_user_id]);
  return users;
}
