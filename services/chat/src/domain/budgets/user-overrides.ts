import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { pageLimit } from '../../validate.ts';
import { microsToUsd } from '../money.ts';
import { currentBudgetPeriod } from './settings.ts';

type OverrideDeps = Pick<Deps, 'redis' | 'keys' | 'clock'>;

export const userOverridesQuery = z
  .object({
    search: z
      .string()
      .trim()
      .max(200)
      .optional()
      .describe('Only users whose id contains this (case-insensitive).'),
    limit: pageLimit('Users'),
    cursor: z
      .string()
      .regex(/^\d{1,9}$/, 'must be the nextCursor of a previous page')
      .optional(),
  })
  .strict();

export type UserOverridesQuery = z.infer<typeof userOverridesQuery>;

/** Above this share of its cap a user is `near` its cap (the console highlights it). */
export const nearCapShare = 0.8;

/**
 * The per-user cap overrides of an agent, sorted by user id, with this period's spend. The
 * overrides hash is read whole (one HGETALL): overrides are set by hand, so they number in the
 * thousands at most, unlike the users themselves.
 */
export async function listUserOverrides(
  deps: OverrideDeps,
  organizationId: string,
  agentId: string,
  query: UserOverridesQuery,
) {
  const { period } = await currentBudgetPeriod(deps, organizationId, agentId);
  const keys = deps.keys.organization(organizationId);
  const caps = await deps.redis.hgetall(keys.agentUserCaps(agentId));
  const needle = query.search?.toLowerCase();
  const ids = Object.keys(caps)
    .filter((id) => needle === undefined || needle === '' || id.toLowerCase().includes(needle))
    .sort();
  const offset = query.cursor === undefined ? 0 : Number(query.cursor);
  if (offset > ids.length) throw new ApiError('validation_failed', 'query.cursor: is past the end');
  const pageIds = ids.slice(offset, offset + query.limit);
  // Each user's spend against the cap: the counter the reserve script checks (`u:<id>`).
  const spends =
    pageIds.length > 0
      ? await deps.redis.hmget(keys.agentSpend(agentId, period.id), ...pageIds.map((id) => `u:${id}`))
      : [];
  const data = pageIds.map((externalUserId, index) => {
    const capMicros = Number(caps[externalUserId]);
    const spendMicros = Number(spends[index] ?? 0);
    const share =
      capMicros === 0 ? (spendMicros > 0 ? Number.POSITIVE_INFINITY : 0) : spendMicros / capMicros;
    return {
      externalUserId,
      monthlyBudgetUsd: microsToUsd(capMicros),
      currentMonthSpendUsd: microsToUsd(spendMicros),
      remainingBudgetUsd: microsToUsd(Math.max(0, capMicros - spendMicros)),
      status: (share >= 1 ? 'over' : share >= nearCapShare ? 'near' : 'ok') as 'ok' | 'near' | 'over',
    };
  });
  return {
    periodStart: period.start.toISOString(),
    total: ids.length,
    data,
    nextCursor: offset + query.limit < ids.length ? String(offset + query.limit) : null,
  };
}
