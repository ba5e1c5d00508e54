import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import type { Page } from '../../storage/collection.ts';
import type { LedgerFilter } from '../../storage/database/ledger-entries-table.ts';
import { pageLimit } from '../../validate.ts';
import { type LedgerEntryRecord, type LedgerEntryType, ledgerEntryTypes } from './ledger-entry.ts';

type LedgerDeps = Pick<Deps, 'history'>;

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
    limit: pageLimit('Entries'),
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

export type { LedgerFilter };

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

/**
 * One page of the ledger, newest first, from PostgreSQL. `nextCursor` is null once nothing older
 * matches. An entry appended in the last moments shows once the drainer has moved it (its lag,
 * well under a second).
 */
export async function listLedger(
  deps: LedgerDeps,
  organizationId: string,
  filter: LedgerFilter,
  page: { limit: number; cursor?: string | undefined },
): Promise<Page<LedgerEntryRecord>> {
  return deps.history.listLedger(organizationId, filter, page);
}
