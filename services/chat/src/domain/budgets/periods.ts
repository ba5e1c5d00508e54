/**
 * Budget periods: a month that starts on the agent's reset day (1-28) at 00:00 UTC. Counters are
 * keyed by the period's start date, so a new month starts with fresh counters and no job runs.
 */
export interface BudgetPeriod {
  /** The start date, `YYYY-MM-DD`: the suffix of the period's Redis keys. */
  id: string;
  start: Date;
  /** When the next period starts: the moment the caps reset. */
  end: Date;
}

export function budgetPeriod(now: Date, resetDayOfMonthUtc: number): BudgetPeriod {
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth();
  const startMonth = now.getUTCDate() >= resetDayOfMonthUtc ? month : month - 1;
  const start = new Date(Date.UTC(year, startMonth, resetDayOfMonthUtc));
  const end = new Date(Date.UTC(year, startMonth + 1, resetDayOfMonthUtc));
  return { id: start.toISOString().slice(0, 10), start, end };
}

export const dayOf = (date: Date): string => date.toISOString().slice(0, 10);

/** How long period counters are kept: long enough for a year of monthly reports. */
export const periodKeyTtlSeconds = 400 * 86_400;
