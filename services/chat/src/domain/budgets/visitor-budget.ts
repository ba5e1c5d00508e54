import type { VisitorBudget } from '@mcpstack/chat-protocol';
import type { Deps } from '../../deps.ts';
import { microsToUsd } from '../money.ts';
import type { Owner } from '../owner.ts';
import { budgetPeriod } from './periods.ts';

/**
 * The budget meter a visitor may see: for a signed-in user the cap that binds them (their own, else
 * the agent's) in USD; for an anonymous visitor only the share of the guest pool left (never what
 * others spent). Null when no cap applies. The shape is the chat protocol's: the widget reads it.
 */
export type { VisitorBudget };

export async function visitorBudget(
  deps: Pick<Deps, 'redis' | 'keys' | 'clock'>,
  organizationId: string,
  agentId: string,
  owner: Owner,
): Promise<VisitorBudget | null> {
  const keys = deps.keys.organization(organizationId);
  const userId = owner.kind === 'user' ? owner.id : '';
  const [settings, override] = await Promise.all([
    deps.redis.hmget(
      keys.agentBudget(agentId),
      'enabled',
      'monthlyMicros',
      'defaultUserMicros',
      'anonymousMicros',
      'resetDay',
      'alertThresholds',
    ),
    owner.kind === 'user' ? deps.redis.hget(keys.agentUserCaps(agentId), userId) : Promise.resolve(null),
  ]);
  const [enabled, agentCap, defaultUserCap, anonymousCap, resetDay, thresholds] = settings;
  if (enabled !== '1') return null;
  const period = budgetPeriod(deps.clock.now(), Number(resetDay ?? 1) || 1);
  const cap = (value: string | null | undefined) => (value ? Number(value) : null);
  let scope: VisitorBudget['scope'];
  let capMicros: number | null;
  let field: string;
  if (owner.kind === 'user' && cap(override ?? defaultUserCap) !== null) {
    scope = 'user';
    capMicros = cap(override ?? defaultUserCap);
    field = `u:${userId}`;
  } else if (owner.kind !== 'user' && cap(anonymousCap) !== null) {
    scope = 'anonymous';
    capMicros = cap(anonymousCap);
    field = 'anon';
  } else {
    scope = owner.kind === 'user' ? 'agent' : 'anonymous';
    capMicros = cap(agentCap);
    field = 'agent';
  }
  if (capMicros === null) return null;
  const spentMicros = Number((await deps.redis.hget(keys.agentSpend(agentId, period.id), field)) ?? 0);
  const remainingMicros = Math.max(0, capMicros - spentMicros);
  const shown = owner.kind === 'user';
  return {
    scope,
    limitUsd: shown ? microsToUsd(capMicros) : null,
    spentUsd: shown ? microsToUsd(spentMicros) : null,
    remainingUsd: shown ? microsToUsd(remainingMicros) : null,
    remainingPercent: capMicros === 0 ? 0 : Math.floor((remainingMicros / capMicros) * 1000) / 10,
    resetsAt: period.end.toISOString(),
    warnAtPercent: (thresholds ?? '50,80,100').split(',').map(Number).filter(Number.isFinite),
  };
}
