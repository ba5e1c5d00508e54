import type { Deps } from '../../deps.ts';
import type { DrainedBound } from '../../storage/database/drained-bound.ts';
import type { CallGroup } from '../../storage/database/llm-calls-table.ts';
import { budgetPeriod, periodKeyTtlSeconds } from '../budgets/periods.ts';
import { readBudgetSettings } from '../budgets/settings.ts';
import type { LedgerEntryRecord, LedgerEntryType } from '../credits/ledger-entry.ts';
import { addEntry, emptyBatch, type HistoryBatch, parseStreamId } from './outbox.ts';

type BooksDeps = Pick<Deps, 'redis' | 'keys' | 'history' | 'clock' | 'stores'>;

/** The credit fields each entry type moves, and its sign there (usage counts up in `spent`). */
export const creditTotals: ReadonlyArray<{ field: string; type: LedgerEntryType; sign: 1 | -1 }> = [
  { field: 'purchased', type: 'purchase', sign: 1 },
  { field: 'granted', type: 'grant', sign: 1 },
  { field: 'adjusted', type: 'adjustment', sign: 1 },
  { field: 'refunded', type: 'refund', sign: 1 },
  { field: 'spent', type: 'usage', sign: -1 },
];

/** What the history (PostgreSQL plus the outbox's undrained tail) says Redis should hold. */
export interface Books {
  /** The credits hash as Redis holds it at the snapshot. */
  actualCredits: Record<string, string>;
  /** The credits hash as the history adds up (balance, running totals, `spent:YYYY-MM`). */
  expectedCredits: Record<string, number>;
  ledgerSumMicros: number;
  sumByType: Map<LedgerEntryType, number>;
  entryCount: number;
  /** The purchase and refund entries, for the Stripe checks. */
  paymentEntries: LedgerEntryRecord[];
  /** Each agent's current period: its counters hash as the history adds up, and as Redis holds it. */
  agents: AgentBooks[];
  /** Outbox entries not drained yet at the snapshot. */
  tailLength: number;
}

export interface AgentBooks {
  agentId: string;
  periodId: string;
  /** The agent's counters of its current period (`agent`, `anon`, `u:<user>`) as the history adds up. */
  expected: Record<string, number>;
  /** The same fields as Redis holds them. */
  actual: Record<string, string>;
}

/**
 * The fields of an agent's period counters the settle script keeps, for the caps and alerts. A
 * hash written before the usage reports moved to PostgreSQL may hold more (calls, tokens, days):
 * nothing reads those any more, so they are not compared.
 */
const isCapCounter = (field: string) => field === 'agent' || field === 'anon' || field.startsWith('u:');

/**
 * Reads the credits and the outbox in one MULTI (one consistent Redis state), then PostgreSQL's
 * rows drained up to that state: Redis's balance must equal Σ of both, whatever the drain lag.
 */
async function snapshot(deps: BooksDeps, organizationId: string) {
  const keys = deps.keys.organization(organizationId);
  const replies = (await deps.redis
    .multi()
    .hgetall(keys.credits)
    .xinfo('STREAM', keys.historyOutbox)
    .xrange(keys.historyOutbox, '-', '+')
    .exec()) as Array<[Error | null, unknown]>;
  const credits = (replies[0]?.[1] ?? {}) as Record<string, string>;
  let last = '0-0';
  const info = replies[1]?.[0] ? [] : ((replies[1]?.[1] ?? []) as unknown[]);
  for (let index = 0; index + 1 < info.length; index += 2)
    if (info[index] === 'last-generated-id') last = String(info[index + 1]);
  const entries = (replies[2]?.[0] ? [] : (replies[2]?.[1] ?? [])) as Array<[string, string[]]>;
  const tail = emptyBatch();
  for (const [id, fields] of entries) addEntry(tail, organizationId, id, fields);
  // A stream that never held an entry (none yet, or recreated after a Redis loss): every row
  // PostgreSQL holds was drained before it, and every later entry will sort after them.
  const bound: DrainedBound = {
    upTo: last === '0-0' ? { milliseconds: Number.MAX_SAFE_INTEGER, sequence: 0 } : parseStreamId(last),
    exclude: [...tail.ledger.map((entry) => entry.id), ...tail.calls.map((call) => call.id)],
  };
  return { credits, tail, bound, tailLength: entries.length };
}

function addCounters(target: Record<string, number>, group: CallGroup) {
  const add = (field: string, value: number) => {
    target[field] = (target[field] ?? 0) + value;
  };
  add('agent', group.costMicros);
  if (group.externalUserId !== null) add(`u:${group.externalUserId}`, group.costMicros);
  else add('anon', group.costMicros);
}

function tailGroups(tail: HistoryBatch, agentId: string, period: string): CallGroup[] {
  return tail.calls
    .filter((call) => call.agentId === agentId && call.budgetPeriod === period)
    .map((call) => ({
      agentId: call.agentId,
      externalUserId: call.externalUserId,
      costMicros: call.costMicros,
    }));
}

export async function readBooks(deps: BooksDeps, organizationId: string): Promise<Books> {
  const keys = deps.keys.organization(organizationId);
  const { credits, tail, bound, tailLength } = await snapshot(deps, organizationId);
  const [totals, payments, months, agents] = await Promise.all([
    deps.history.ledgerTotals(organizationId, bound),
    deps.history.paymentEntries(organizationId, bound),
    deps.history.monthlySpend(organizationId, bound),
    deps.stores.agents.all(organizationId),
  ]);

  const sumByType = new Map<LedgerEntryType, number>();
  let entryCount = 0;
  for (const total of totals) {
    sumByType.set(total.type, total.sumMicros);
    entryCount += total.count;
  }
  for (const entry of tail.ledger) {
    sumByType.set(entry.type, (sumByType.get(entry.type) ?? 0) + entry.amountMicros);
    entryCount += 1;
  }
  const ledgerSumMicros = [...sumByType.values()].reduce((sum, value) => sum + value, 0);
  const expectedCredits: Record<string, number> = { balance: ledgerSumMicros };
  for (const { field, type, sign } of creditTotals)
    expectedCredits[field] = sign * (sumByType.get(type) ?? 0);
  for (const call of tail.calls) {
    if (call.costMicros > 0)
      months.set(call.createdAt.slice(0, 7), (months.get(call.createdAt.slice(0, 7)) ?? 0) + call.costMicros);
  }
  for (const [month, micros] of months) expectedCredits[`spent:${month}`] = micros;

  const now = deps.clock.now();
  const agentBooks: AgentBooks[] = [];
  for (const agent of agents) {
    const settings = await readBudgetSettings(deps, organizationId, agent.id);
    const period = budgetPeriod(now, settings.resetDayOfMonthUtc);
    const groups = [
      ...(await deps.history.callGroups(organizationId, agent.id, period.id, bound)),
      ...tailGroups(tail, agent.id, period.id),
    ];
    const expected: Record<string, number> = {};
    for (const group of groups) addCounters(expected, group);
    const stored = await deps.redis.hgetall(keys.agentSpend(agent.id, period.id));
    const actual = Object.fromEntries(Object.entries(stored).filter(([field]) => isCapCounter(field)));
    agentBooks.push({ agentId: agent.id, periodId: period.id, expected, actual });
  }

  return {
    actualCredits: credits,
    expectedCredits,
    ledgerSumMicros,
    sumByType,
    entryCount,
    paymentEntries: [
      ...payments,
      ...tail.ledger.filter((entry) => entry.type === 'purchase' || entry.type === 'refund'),
    ],
    agents: agentBooks,
    tailLength,
  };
}

/** The fields of `expected` that `actual` does not hold exactly (a missing field counts as 0). */
export function counterDifferences(expected: Record<string, number>, actual: Record<string, string>) {
  const fields = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  return [...fields]
    .filter((field) => (expected[field] ?? 0) !== Number(actual[field] ?? 0))
    .map((field) => ({ field, expected: expected[field] ?? 0, actual: Number(actual[field] ?? 0) }));
}

/**
 * Restores an organization's balance, running totals and current-period counters in Redis from
 * the history, exactly (after a Redis loss). Run it with the service stopped: a settle between the
 * read and the write would be overwritten.
 */
export async function rebuildCounters(deps: BooksDeps, organizationId: string, books: Books): Promise<void> {
  const keys = deps.keys.organization(organizationId);
  const users = await deps.history.agentUsers(organizationId);
  const transaction = deps.redis.multi();
  transaction.del(keys.credits);
  // Totals no entry moved stay absent, as the scripts leave them (absent reads as 0).
  const credits = Object.entries(books.expectedCredits).filter(
    ([field, value]) => field === 'balance' || value !== 0,
  );
  transaction.hset(keys.credits, Object.fromEntries(credits.map(([field, value]) => [field, String(value)])));
  for (const agent of books.agents) {
    const spend = keys.agentSpend(agent.agentId, agent.periodId);
    transaction.del(spend);
    if (Object.keys(agent.expected).length > 0) {
      transaction.hset(
        spend,
        Object.fromEntries(Object.entries(agent.expected).map(([field, value]) => [field, String(value)])),
      );
      transaction.expire(spend, periodKeyTtlSeconds);
    }
    const seen = users.get(agent.agentId) ?? [];
    if (seen.length > 0) transaction.sadd(keys.agentUsers(agent.agentId), ...seen);
  }
  await transaction.exec();
}
