import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { microsOrNull, microsToUsd, usdAmount, usdToMicros } from '../money.ts';
import { budgetPeriod } from './periods.ts';

type BudgetDeps = Pick<Deps, 'redis' | 'keys' | 'clock'>;

/** `PATCH …/budget`: every field optional; `monthlyBudgetUsd` is required once enabled. */
export const patchBudgetInput = z
  .object({
    enabled: z.boolean().describe('Whether the caps apply (the AI-credit balance always does).'),
    monthlyBudgetUsd: usdAmount().nullable().describe('The cap on all traffic of the agent, per month.'),
    defaultUserBudgetUsd: usdAmount()
      .nullable()
      .describe('The cap of each identified user without an override; null for none.'),
    anonymousMonthlyBudgetUsd: usdAmount()
      .nullable()
      .describe('One pool shared by all anonymous visitors of the agent; null for none.'),
    currency: z.literal('USD').describe('Only USD.'),
    resetDayOfMonthUtc: z
      .number()
      .int()
      .min(1)
      .max(28)
      .describe('The day the month starts, 00:00 UTC (1-28).'),
  })
  .partial()
  .strict();
export type PatchBudgetInput = z.infer<typeof patchBudgetInput>;

export const userBudgetInput = z
  .object({ monthlyBudgetUsd: usdAmount().describe("This user's monthly cap, replacing the default.") })
  .strict();

export interface BudgetSettings {
  enabled: boolean;
  monthlyMicros: number | null;
  defaultUserMicros: number | null;
  anonymousMicros: number | null;
  resetDayOfMonthUtc: number;
  updatedAt: string | null;
}

/** The reset day of an agent whose budget was never set. */
export const defaultResetDayOfMonthUtc = 1;

const noSettings: BudgetSettings = {
  enabled: false,
  monthlyMicros: null,
  defaultUserMicros: null,
  anonymousMicros: null,
  resetDayOfMonthUtc: defaultResetDayOfMonthUtc,
  updatedAt: null,
};

export async function readBudgetSettings(
  deps: BudgetDeps,
  organizationId: string,
  agentId: string,
): Promise<BudgetSettings> {
  const hash = await deps.redis.hgetall(deps.keys.organization(organizationId).agentBudget(agentId));
  if (!hash.resetDay) return noSettings;
  return {
    enabled: hash.enabled === '1',
    monthlyMicros: microsOrNull(hash.monthlyMicros),
    defaultUserMicros: microsOrNull(hash.defaultUserMicros),
    anonymousMicros: microsOrNull(hash.anonymousMicros),
    resetDayOfMonthUtc: Number(hash.resetDay),
    updatedAt: hash.updatedAt ?? null,
  };
}

const field = (micros: number | null) => (micros === null ? '' : String(micros));
const usdOf = (micros: number | null) => (micros === null ? null : microsToUsd(micros));

export async function patchBudgetSettings(
  deps: BudgetDeps,
  organizationId: string,
  agentId: string,
  input: PatchBudgetInput,
): Promise<BudgetSettings> {
  const current = await readBudgetSettings(deps, organizationId, agentId);
  const pick = (value: number | null | undefined, fallback: number | null) =>
    value === undefined ? fallback : value === null ? null : usdToMicros(value);
  const next: BudgetSettings = {
    enabled: input.enabled ?? current.enabled,
    monthlyMicros: pick(input.monthlyBudgetUsd, current.monthlyMicros),
    defaultUserMicros: pick(input.defaultUserBudgetUsd, current.defaultUserMicros),
    anonymousMicros: pick(input.anonymousMonthlyBudgetUsd, current.anonymousMicros),
    resetDayOfMonthUtc: input.resetDayOfMonthUtc ?? current.resetDayOfMonthUtc,
    updatedAt: deps.clock.now().toISOString(),
  };
  if (next.enabled && next.monthlyMicros === null) {
    throw new ApiError('validation_failed', 'body.monthlyBudgetUsd: is required when the budget is enabled', {
      issues: [{ path: 'body.monthlyBudgetUsd', message: 'is required when the budget is enabled' }],
    });
  }
  // One HSET: the reserve script reads these fields together, so a change is seen whole.
  await deps.redis.hset(deps.keys.organization(organizationId).agentBudget(agentId), {
    enabled: next.enabled ? '1' : '0',
    monthlyMicros: field(next.monthlyMicros),
    defaultUserMicros: field(next.defaultUserMicros),
    anonymousMicros: field(next.anonymousMicros),
    resetDay: String(next.resetDayOfMonthUtc),
    updatedAt: next.updatedAt ?? '',
  });
  return next;
}

/** An agent's budget settings and the budget period it is in now. */
export async function currentBudgetPeriod(deps: BudgetDeps, organizationId: string, agentId: string) {
  const settings = await readBudgetSettings(deps, organizationId, agentId);
  return { settings, period: budgetPeriod(deps.clock.now(), settings.resetDayOfMonthUtc) };
}

/** The budget as the reference shows it: settings, this month's spend and the user allocation. */
export async function budgetView(deps: BudgetDeps, organizationId: string, agentId: string) {
  const keys = deps.keys.organization(organizationId);
  const { settings, period } = await currentBudgetPeriod(deps, organizationId, agentId);
  const [spent, tracked, caps] = await Promise.all([
    deps.redis.hget(keys.agentSpend(agentId, period.id), 'agent'),
    deps.redis.scard(keys.agentUsers(agentId)),
    deps.redis.hvals(keys.agentUserCaps(agentId)),
  ]);
  const spentMicros = Number(spent ?? 0);
  const assignedMicros = caps.reduce((sum, value) => sum + Number(value), 0);
  return {
    enabled: settings.enabled,
    monthlyBudgetUsd: usdOf(settings.monthlyMicros),
    defaultUserBudgetUsd: usdOf(settings.defaultUserMicros),
    defaultUserMonthlyBudgetUsd: usdOf(settings.defaultUserMicros),
    anonymousMonthlyBudgetUsd: usdOf(settings.anonymousMicros),
    currency: 'USD' as const,
    allocationMode: 'shared' as const,
    resetDayOfMonthUtc: settings.resetDayOfMonthUtc,
    periodStart: period.start.toISOString(),
    resetsAt: period.end.toISOString(),
    currentMonthSpendUsd: microsToUsd(spentMicros),
    remainingBudgetUsd:
      settings.monthlyMicros === null ? null : microsToUsd(Math.max(0, settings.monthlyMicros - spentMicros)),
    trackedUserCount: tracked,
    assignedUserCount: caps.length,
    assignedBudgetUsd: microsToUsd(assignedMicros),
    updatedAt: settings.updatedAt,
  };
}

/** One user's cap in force (override, else the default), spend and remaining this month. */
export async function userBudgetView(
  deps: BudgetDeps,
  organizationId: string,
  agentId: string,
  userId: string,
) {
  const keys = deps.keys.organization(organizationId);
  const { settings, period } = await currentBudgetPeriod(deps, organizationId, agentId);
  const [override, spent] = await Promise.all([
    deps.redis.hget(keys.agentUserCaps(agentId), userId),
    deps.redis.hget(keys.agentSpend(agentId, period.id), `u:${userId}`),
  ]);
  const capMicros = override !== null ? Number(override) : settings.defaultUserMicros;
  const spentMicros = Number(spent ?? 0);
  return {
    externalUserId: userId,
    source:
      override !== null
        ? ('override' as const)
        : capMicros === null
          ? ('none' as const)
          : ('default' as const),
    monthlyBudgetUsd: usdOf(capMicros),
    currentMonthSpendUsd: microsToUsd(spentMicros),
    remainingBudgetUsd: capMicros === null ? null : microsToUsd(Math.max(0, capMicros - spentMicros)),
    enforced: settings.enabled,
    resetsAt: period.end.toISOString(),
  };
}

export async function setUserBudget(
  deps: BudgetDeps,
  organizationId: string,
  agentId: string,
  userId: string,
  monthlyBudgetUsd: number,
): Promise<void> {
  await deps.redis.hset(
    deps.keys.organization(organizationId).agentUserCaps(agentId),
    userId,
    usdToMicros(monthlyBudgetUsd),
  );
}

export async function removeUserBudget(
  deps: BudgetDeps,
  organizationId: string,
  agentId: string,
  userId: string,
): Promise<boolean> {
  return (await deps.redis.hdel(deps.keys.organization(organizationId).agentUserCaps(agentId), userId)) === 1;
}
