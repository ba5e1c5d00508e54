import type { Deps } from '../../deps.ts';
import { formatMicros } from '../money.ts';
import { type LedgerFilter, listLedger } from './ledger.ts';
import type { LedgerEntryRecord } from './ledger-entry.ts';

/** An export holds at most this many rows; past it, the `nextCursor` continues where it stopped. */
export const csvMaxRows = 100_000;

/** The export's header row, in column order. */
export const ledgerCsvColumns = [
  'id',
  'createdAt',
  'type',
  'amountUsd',
  'balanceAfterUsd',
  'currency',
  'agentId',
  'conversationId',
  'callId',
  'stripeSessionId',
  'stripeChargeId',
  'actor',
  'reason',
] as const;

const plainNumber = /^[+-]?\d+(\.\d+)?$/;

/**
 * One RFC 4180 cell. A spreadsheet runs a cell starting with = + - @ (or a tab or carriage return)
 * as a formula, so such text gets a leading apostrophe (OWASP's CSV-injection advice); plain
 * numbers, negative amounts included, stay numbers.
 */
export function csvCell(value: string | null): string {
  let text = value ?? '';
  if (/^[=+\-@\t\r]/.test(text) && !plainNumber.test(text)) text = `'${text}`;
  if (/[",\r\n]/.test(text)) text = `"${text.replaceAll('"', '""')}"`;
  return text;
}

function row(entry: LedgerEntryRecord): string {
  const cells: Record<(typeof ledgerCsvColumns)[number], string | null> = {
    id: entry.id,
    createdAt: entry.createdAt,
    type: entry.type,
    amountUsd: formatMicros(entry.amountMicros),
    balanceAfterUsd: formatMicros(entry.balanceAfterMicros),
    currency: 'USD',
    agentId: entry.reference.agentId,
    conversationId: entry.reference.conversationId,
    callId: entry.reference.callId,
    stripeSessionId: entry.reference.stripeSessionId,
    stripeChargeId: entry.reference.stripeChargeId,
    actor: entry.actor,
    reason: entry.reason,
  };
  return ledgerCsvColumns.map((column) => csvCell(cells[column])).join(',');
}

/**
 * The ledger as a CSV file a spreadsheet opens as is: a UTF-8 byte-order mark (so Excel reads
 * non-ASCII reasons right), a header row, CRLF line ends, newest entry first.
 */
export async function ledgerCsv(
  deps: Pick<Deps, 'history'>,
  organizationId: string,
  filter: LedgerFilter,
  cursor?: string,
): Promise<{ csv: string; rows: number; nextCursor: string | null }> {
  const lines = [ledgerCsvColumns.join(',')];
  let next: string | null | undefined = cursor;
  let rows = 0;
  do {
    const page = await listLedger(deps, organizationId, filter, {
      limit: Math.min(500, csvMaxRows - rows),
      cursor: next ?? undefined,
    });
    for (const entry of page.data) lines.push(row(entry));
    rows += page.data.length;
    next = page.nextCursor;
  } while (next && rows < csvMaxRows);
  return { csv: `\uFEFF${lines.join('\r\n')}\r\n`, rows, nextCursor: next ?? null };
}
