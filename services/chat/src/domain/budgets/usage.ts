import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import type { Page, PageRequest } from '../../storage/collection.ts';
import { microsToUsd } from '../money.ts';
import { budgetPeriod } from './periods.ts';
import { readBudgetSettings } from './settings.ts';

type UsageDeps = Pick<Deps, 'redis' | 'keys' | 'clock' | 'stores'>;

/** An agent's usage this budget period: totals and by day, from the counters the settle script keeps. */
export async function agentUsage(deps: UsageDeps, organizationId: string, agentId: string) {
  const keys = deps.keys.organization(organizationId);
  const settings = await readBudgetSettings(deps, organizationId, agentId);
  const period = budgetPeriod(deps.clock.now(), settings.resetDayOfMonthUtc);
  const [counters, conversations, users] = await Promise.all([
    deps.redis.hgetall(keys.agentSpend(agentId, period.id)),
    deps.redis.scard(keys.agentPeriodConversations(agentId, period.id)),
    deps.redis.zcard(keys.agentUserSpend(agentId, period.id)),
  ]);
  const count = (field: string) => Number(counters[field] ?? 0);
  const days = new Map<string, { spendMicros: number; calls: number }>();
  for (const [field, value] of Object.entries(counters)) {
    const match = /^d:(\d{4}-\d{2}-\d{2}):(spend|calls)$/.exec(field);
    if (!match?.[1]) continue;
    const day = days.get(match[1]) ?? { spendMicros: 0, calls: 0 };
    if (match[2] === 'spend') day.spendMicros = Number(value);
    else day.calls = Number(value);
    days.set(match[1], day);
  }
  return {
    agentId,
    periodStart: period.start.toISOString(),
    periodEnd: period.end.toISOString(),
    spendUsd: microsToUsd(count('agent')),
    anonymousSpendUsd: microsToUsd(count('anon')),
    llmCalls: count('calls'),
    inputTokens: count('inputTokens'),
    outputTokens: count('outputTokens'),
    conversations,
    users,
    byDay: [...days.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([date, day]) => ({ date, spendUsd: microsToUsd(day.spendMicros), llmCalls: day.calls })),
  };
}

/** Identified users by spend this period, highest first; the cursor is an offset in the ranking. */
export async function agentUserUsage(
  deps: UsageDeps,
  organizationId: string,
  agentId: string,
  page: PageRequest,
) {
  const keys = deps.keys.organization(organizationId);
  const settings = await readBudgetSettings(deps, organizationId, agentId);
  const period = budgetPeriod(deps.clock.now(), settings.resetDayOfMonthUtc);
  const offset = page.cursor === undefined ? 0 : Number(page.cursor);
  if (!Number.isInteger(offset) || offset < 0)
    throw new ApiError('validation_failed', 'query.cursor: is not valid');
  const ranked = await deps.redis.zrevrange(
    keys.agentUserSpend(agentId, period.id),
    offset,
    offset + page.limit - 1,
    'WITHSCORES',
  );
  const ids: string[] = [];
  const spends: number[] = [];
  for (let i = 0; i < ranked.length; i += 2) {
    ids.push(ranked[i] ?? '');
    spends.push(Number(ranked[i + 1]));
  }
  const overrides = ids.length > 0 ? await deps.redis.hmget(keys.agentUserCaps(agentId), ...ids) : [];
  const data = ids.map((externalUserId, index) => {
    const override = overrides[index];
    const capMicros = override != null ? Number(override) : settings.defaultUserMicros;
    const spendMicros = spends[index] ?? 0;
    return {
      externalUserId,
      spendUsd: microsToUsd(spendMicros),
      monthlyBudgetUsd: capMicros === null ? null : microsToUsd(capMicros),
      remainingBudgetUsd: capMicros === null ? null : microsToUsd(Math.max(0, capMicros - spendMicros)),
      budgetSource: override != null ? 'override' : capMicros === null ? 'none' : 'default',
    };
  });
  const result: Page<(typeof data)[number]> = {
    data,
    nextCursor: ids.length === page.limit ? String(offset + page.limit) : null,
  };
  return { periodStart: period.start.toISOString(), ...result };
}

/** Every agent's spend this period, for the organization's embeds overview. */
export async function embedUsage(deps: UsageDeps, organizationId: string) {
  const agents = await deps.stores.agents.all(organizationId);
  const data = await Promise.all(
    agents.map(async (agent) => {
      const usage = await agentUsage(deps, organizationId, agent.id);
      const { byDay: _byDay, ...totals } = usage;
      return { agentName: agent.name, ...totals };
    }),
  );
  return {
    totalSpendUsd: microsToUsd(data.reduce((sum, entry) => sum + Math.round(entry.spendUsd * 1e6), 0)),
    data,
  };
}
