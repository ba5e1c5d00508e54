import { creditsLowHeader } from '@mcpstack/chat-protocol';
import type { Deps } from '../../deps.ts';
import { microsToUsd, usdToMicros } from '../money.ts';

type SummaryDeps = Pick<Deps, 'redis' | 'keys' | 'clock' | 'env'>;

export interface CreditSummary {
  currency: 'USD';
  balanceUsd: number;
  /** Held by chat turns in flight: the balance less this is what new turns can spend. */
  reservedUsd: number;
  availableUsd: number;
  purchasedUsd: number;
  grantedUsd: number;
  /** Refunds debited, as a positive amount. */
  refundedUsd: number;
  /** Net of manual adjustments (signed). */
  adjustedUsd: number;
  spentUsd: number;
  spentThisMonthUsd: number;
  /** The calendar month (UTC) of `spentThisMonthUsd`, `YYYY-MM`. */
  month: string;
  lowBalance: boolean;
  lowBalanceThresholdUsd: number;
}

const number = (value: string | undefined | null) => Number(value ?? 0);

/** The running totals the scripts keep next to the balance; the reconcile proves they add up. */
export async function creditSummary(deps: SummaryDeps, organizationId: string): Promise<CreditSummary> {
  const keys = deps.keys.organization(organizationId);
  const month = deps.clock.now().toISOString().slice(0, 7);
  const [totals, reserved, threshold] = await Promise.all([
    deps.redis.hgetall(keys.credits),
    deps.redis.hget(keys.budgetReserved, 'credits'),
    lowBalanceThresholdMicros(deps, organizationId),
  ]);
  const balance = number(totals.balance);
  return {
    currency: 'USD',
    balanceUsd: microsToUsd(balance),
    reservedUsd: microsToUsd(number(reserved)),
    availableUsd: microsToUsd(balance - number(reserved)),
    purchasedUsd: microsToUsd(number(totals.purchased)),
    grantedUsd: microsToUsd(number(totals.granted)),
    refundedUsd: microsToUsd(-number(totals.refunded)),
    adjustedUsd: microsToUsd(number(totals.adjusted)),
    spentUsd: microsToUsd(number(totals.spent)),
    spentThisMonthUsd: microsToUsd(number(totals[`spent:${month}`])),
    month,
    lowBalance: balance < threshold,
    lowBalanceThresholdUsd: microsToUsd(threshold),
  };
}

/**
 * Headers for a chat answer: `x-mcpstack-credits-low: true` while the balance is below the
 * threshold, so the website can warn before credits run out (the amount itself stays private).
 */
export async function lowBalanceHeaders(
  deps: Pick<Deps, 'redis' | 'keys' | 'env'>,
  organizationId: string,
): Promise<Record<string, string>> {
  const [balance, threshold] = await Promise.all([
    deps.redis.hget(deps.keys.organization(organizationId).credits, 'balance'),
    lowBalanceThresholdMicros(deps, organizationId),
  ]);
  return number(balance) < threshold ? { [creditsLowHeader]: 'true' } : {};
}

/** The organization's own low-balance threshold, else the service's (MCPSTACK_LOW_BALANCE_USD). */
export async function lowBalanceThresholdMicros(
  deps: Pick<Deps, 'redis' | 'keys' | 'env'>,
  organizationId: string,
): Promise<number> {
  const own = await deps.redis.hget(
    deps.keys.organization(organizationId).creditSettings,
    'lowBalanceMicros',
  );
  return own === null ? usdToMicros(deps.env.MCPSTACK_LOW_BALANCE_USD) : Number(own);
}

/** Sets the organization's low-balance threshold (USD), or gives it back to the service's default (null). */
export async function setLowBalanceThreshold(
  deps: Pick<Deps, 'redis' | 'keys' | 'env'>,
  organizationId: string,
  thresholdUsd: number | null,
): Promise<number> {
  const key = deps.keys.organization(organizationId).creditSettings;
  if (thresholdUsd === null) await deps.redis.hdel(key, 'lowBalanceMicros');
  else await deps.redis.hset(key, 'lowBalanceMicros', String(usdToMicros(thresholdUsd)));
  return lowBalanceThresholdMicros(deps, organizationId);
}
