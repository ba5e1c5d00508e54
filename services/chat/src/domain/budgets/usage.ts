import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import type { Page } from '../../storage/collection.ts';
import type { TimeRange, UsageTotals, UserSpend } from '../../storage/database/usage-reports.ts';
import { pageLimit } from '../../validate.ts';
import { microsToUsd } from '../money.ts';
import type { BudgetPeriod } from './periods.ts';
import { currentBudgetPeriod } from './settings.ts';

/**
 * The usage reports read the LLM-call log in PostgreSQL (the calls whose `createdAt` falls in the
 * budget period), not Redis: Redis keeps only what the caps need. A call that just ended counts
 * once the drainer has moved it (the drain lag, well under a second).
 */
type UsageDeps = Pick<Deps, 'redis' | 'keys' | 'clock' | 'stores' | 'history'>;

const noCalls: UsageTotals = {
  spendMicros: 0,
  anonymousMicros: 0,
  calls: 0,
  inputTokens: 0,
  outputTokens: 0,
  users: 0,
  conversations: 0,
};

const rangeOf = (period: BudgetPeriod): TimeRange => ({ from: period.start, to: period.end });

function totalsView(period: BudgetPeriod, totals: UsageTotals) {
  return {
    periodStart: period.start.toISOString(),
    periodEnd: period.end.toISOString(),
    spendUsd: microsToUsd(totals.spendMicros),
    anonymousSpendUsd: microsToUsd(totals.anonymousMicros),
    llmCalls: totals.calls,
    inputTokens: totals.inputTokens,
    outputTokens: totals.outputTokens,
    conversations: totals.conversations,
    users: totals.users,
  };
}

/** An agent's usage this budget period: totals, and spend and calls by UTC day. */
export async function agentUsage(deps: UsageDeps, organizationId: string, agentId: string) {
  const { period } = await currentBudgetPeriod(deps, organizationId, agentId);
  const range = rangeOf(period);
  const [totals, days] = await Promise.all([
    deps.history.usageTotals(organizationId, [agentId], range),
    deps.history.usageByDay(organizationId, agentId, range),
  ]);
  return {
    agentId,
    ...totalsView(period, totals.get(agentId) ?? noCalls),
    byDay: days.map((day) => ({
      date: day.day,
      spendUsd: microsToUsd(day.spendMicros),
      llmCalls: day.calls,
    })),
  };
}

/**
 * The ranking's cursor: the spend and id of a page's last user, opaque (base64url: ids may hold
 * any character). The next page starts strictly after it in (spend descending, id ascending), so a
 * cursor stays valid however spends move meanwhile.
 */
const cursorPattern = /^(\d{1,16}):(.+)$/s;

function encodeCursor(last: UserSpend): string {
  return Buffer.from(`${last.spendMicros}:${last.externalUserId}`).toString('base64url');
}

function decodeCursor(cursor: string): UserSpend {
  const match = cursorPattern.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1] || !match[2])
    throw new ApiError('validation_failed', 'query.cursor: must be the nextCursor of a previous page');
  return { spendMicros: Number(match[1]), externalUserId: match[2] };
}

export const userUsageQuery = z
  .object({
    limit: pageLimit('Users'),
    cursor: z
      .string()
      .max(1000)
      .regex(/^[A-Za-z0-9_-]+$/, 'must be the nextCursor of a previous page')
      .optional()
      .describe('The nextCursor of the previous page.'),
  })
  .strict();

/** Identified users by spend this period, highest first (ties by id), with the cap each is under. */
export async function agentUserUsage(
  deps: UsageDeps,
  organizationId: string,
  agentId: string,
  query: z.infer<typeof userUsageQuery>,
) {
  const keys = deps.keys.organization(organizationId);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const { settings, period } = await currentBudgetPeriod(deps, organizationId, agentId);
  const ranked = await deps.history.userSpendRanking(organizationId, agentId, rangeOf(period), {
    limit: query.limit + 1,
    after,
  });
  const users = ranked.slice(0, query.limit);
  const ids = users.map((user) => user.externalUserId);
  const overrides = ids.length > 0 ? await deps.redis.hmget(keys.agentUserCaps(agentId), ...ids) : [];
  const data = users.map(({ externalUserId, spendMicros }, index) => {
    const override = overrides[index];
    const capMicros = override != null ? Number(override) : settings.defaultUserMicros;
    return {
      externalUserId,
      spendUsd: microsToUsd(spendMicros),
      monthlyBudgetUsd: capMicros === null ? null : microsToUsd(capMicros),
      remainingBudgetUsd: capMicros === null ? null : microsToUsd(Math.max(0, capMicros - spendMicros)),
      budgetSource: (override != null ? 'override' : capMicros === null ? 'none' : 'default') as
        | 'override'
        | 'default'
        | 'none',
    };
  });
  const last = users.at(-1);
  const result: Page<(typeof data)[number]> = {
    data,
    nextCursor: ranked.length > query.limit && last ? encodeCursor(last) : null,
  };
  return { periodStart: period.start.toISOString(), ...result };
}

/**
 * Every agent's totals this period, for the organization's embeds overview: one query for the
 * agents that share a period (the same reset day), usually all of them.
 */
export async function embedUsage(deps: UsageDeps, organizationId: string) {
  const agents = await Promise.all(
    (await deps.stores.agents.all(organizationId)).map(async (agent) => ({
      agent,
      period: (await currentBudgetPeriod(deps, organizationId, agent.id)).period,
    })),
  );
  const byPeriod = new Map<string, { period: BudgetPeriod; agentIds: string[] }>();
  for (const { agent, period } of agents) {
    const group = byPeriod.get(period.id) ?? { period, agentIds: [] };
    group.agentIds.push(agent.id);
    byPeriod.set(period.id, group);
  }
  const totals = new Map<string, UsageTotals>();
  for (const { period, agentIds } of byPeriod.values()) {
    const found = await deps.history.usageTotals(organizationId, agentIds, rangeOf(period));
    for (const [agentId, agentTotals] of found) totals.set(agentId, agentTotals);
  }
  let totalSpendMicros = 0;
  const data = agents.map(({ agent, period }) => {
    const agentTotals = totals.get(agent.id) ?? noCalls;
    totalSpendMicros += agentTotals.spendMicros;
    return { agentName: agent.name, agentId: agent.id, ...totalsView(period, agentTotals) };
  });
  return { totalSpendUsd: microsToUsd(totalSpendMicros), data };
}
