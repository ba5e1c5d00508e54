import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { newId } from '../../ids.ts';
import type { Page } from '../../storage/collection.ts';
import {
  type LedgerEntryRecord,
  type LedgerEntryType,
  ledgerEntryRecord,
  ledgerEntryTypes,
} from '../budgets/credits.ts';

type LedgerDeps = Pick<Deps, 'redis' | 'keys'>;

/** The reference product's two views of the ledger: money in and out, and what usage drew. */
export const ledgerCategories = {
  purchases: ['purchase', 'grant', 'refund', 'adjustment'],
  usage: ['usage'],
} as const satisfies Record<string, readonly LedgerEntryType[]>;

const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .describe('An ISO 8601 date-time with its offset, or a date (midnight UTC).');

const typeList = z
  .string()
  .max(200)
  .transform((value, context) => {
    const types = value.split(',').map((part) => part.trim());
    for (const type of types) {
      if (!(ledgerEntryTypes as readonly string[]).includes(type)) {
        context.addIssue({
          code: 'custom',
          message: `must be one or more of ${ledgerEntryTypes.join(', ')}`,
        });
        return z.NEVER;
      }
    }
    return types as LedgerEntryType[];
  });

export const ledgerQuery = z
  .object({
    category: z
      .enum(['purchases', 'usage'])
      .optional()
      .describe('purchases: purchase, grant, refund and adjustment entries; usage: usage debits.'),
    type: typeList.optional().describe('Entry types, comma-separated (e.g. purchase,refund).'),
    agentId: z.string().min(1).max(100).optional().describe('Only entries that reference this agent.'),
    from: instant.optional().describe('Entries created at or after this time.'),
    to: instant.optional().describe('Entries created before this time.'),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(500)
      .default(50)
      .describe('Entries per page, 1-500 (default 50).'),
    cursor: z
      .string()
      .regex(/^led_[0-9a-z]{22}$/, 'must be the nextCursor of a previous page')
      .optional()
      .describe('The nextCursor of the previous page.'),
    format: z
      .enum(['json', 'csv'])
      .optional()
      .describe('csv: the same entries as a CSV file (like Accept: text/csv).'),
  })
  .strict();
export type LedgerQuery = z.infer<typeof ledgerQuery>;

export interface LedgerFilter {
  /** null: every type. */
  types: ReadonlySet<LedgerEntryType> | null;
  agentId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

export function ledgerFilterOf(query: LedgerQuery): LedgerFilter {
  let types: Set<LedgerEntryType> | null = null;
  if (query.category) types = new Set(ledgerCategories[query.category]);
  if (query.type) {
    const named = new Set(query.type);
    types = types ? new Set([...types].filter((type) => named.has(type))) : named;
  }
  return {
    types,
    agentId: query.agentId,
    from: query.from === undefined ? undefined : new Date(query.from),
    to: query.to === undefined ? undefined : new Date(query.to),
  };
}

function matches(entry: LedgerEntryRecord, filter: LedgerFilter): boolean {
  if (filter.types && !filter.types.has(entry.type)) return false;
  if (filter.agentId !== undefined && entry.reference.agentId !== filter.agentId) return false;
  const at = Date.parse(entry.createdAt);
  if (filter.from && at < filter.from.getTime()) return false;
  if (filter.to && at >= filter.to.getTime()) return false;
  return true;
}

/**
 * Ledger ids start with the time they were minted, so a time range narrows the scan to a range of
 * ids. An entry's `createdAt` can trail its id's time a little (a usage entry is dated when the
 * model call finished), so the id range is widened by this much and `createdAt` decides.
 */
const idTimeSlackMs = 10 * 60_000;
const idPrefixAt = (milliseconds: number) => newId('ledgerEntry', Math.max(0, milliseconds)).slice(0, 14);

const scanBatch = 500;
/** At most this many entries are read for one page; a sparse filter then returns a short page. */
const scanBudget = 20_000;

/**
 * One page of the ledger, newest first. `nextCursor` is null once nothing older matches; a page
 * may be shorter than `limit` (even empty) with a cursor when the filter is sparse: keep paging.
 */
export async function listLedger(
  deps: LedgerDeps,
  organizationId: string,
  filter: LedgerFilter,
  page: { limit: number; cursor?: string | undefined },
): Promise<Page<LedgerEntryRecord>> {
  const keys = deps.keys.organization(organizationId);
  let max = page.cursor
    ? `(${page.cursor}`
    : filter.to
      ? `(${idPrefixAt(filter.to.getTime() + idTimeSlackMs)}`
      : '+';
  const min = filter.from ? `[${idPrefixAt(filter.from.getTime() - idTimeSlackMs)}` : '-';
  const data: LedgerEntryRecord[] = [];
  let scanned = 0;
  for (;;) {
    const ids = await deps.redis.zrevrangebylex(keys.ledger, max, min, 'LIMIT', 0, scanBatch);
    if (ids.length === 0) return { data, nextCursor: null };
    const raws = await deps.redis.hmget(keys.ledgerEntries, ...ids);
    for (const raw of raws) {
      scanned += 1;
      if (raw === null) continue;
      const entry = ledgerEntryRecord.parse(JSON.parse(raw));
      if (!matches(entry, filter)) continue;
      if (data.length === page.limit) return { data, nextCursor: data.at(-1)!.id };
      data.push(entry);
    }
    const last = ids.at(-1)!;
    if (ids.length < scanBatch) return { data, nextCursor: null };
    if (scanned >= scanBudget) return { data, nextCursor: last };
    max = `(${last}`;
  }
}
