import type { LedgerEntryRecord, LedgerEntryType } from '../../domain/credits/ledger-entry.ts';
import type { HistoryBatch } from '../../domain/history/outbox.ts';
import type { Page, PageRequest } from '../collection.ts';
import type { Queryable } from './database.ts';
import { type DrainedBound, upToClause } from './drained-bound.ts';
import { Conditions, keysetPage } from './keyset-page.ts';
import { insertColumns } from './unnest-insert.ts';

/** Which ledger entries a page shows (the API's query, parsed). */
export interface LedgerFilter {
  /** null: every type. */
  types: ReadonlySet<LedgerEntryType> | null;
  agentId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

interface LedgerRow {
  id: string;
  organization_id: string;
  type: LedgerEntryType;
  amount_micros: number;
  balance_after_micros: number;
  agent_id: string | null;
  conversation_id: string | null;
  call_id: string | null;
  stripe_session_id: string | null;
  stripe_charge_id: string | null;
  actor: string;
  reason: string | null;
  created_at: Date;
}

function ledgerEntryOf(row: LedgerRow): LedgerEntryRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    type: row.type,
    amountMicros: Number(row.amount_micros),
    balanceAfterMicros: Number(row.balance_after_micros),
    reference: {
      agentId: row.agent_id,
      conversationId: row.conversation_id,
      callId: row.call_id,
      stripeSessionId: row.stripe_session_id,
      stripeChargeId: row.stripe_charge_id,
    },
    actor: row.actor,
    reason: row.reason,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** Writes drained ledger entries; an entry already written is skipped. */
export async function insertLedgerEntries(
  transaction: Queryable,
  rows: HistoryBatch['ledger'],
): Promise<void> {
  await insertColumns(
    transaction,
    `INSERT INTO ledger_entries (id, organization_id, type, amount_micros, balance_after_micros, agent_id,
       conversation_id, call_id, stripe_session_id, stripe_charge_id, actor, reason, created_at, outbox_ms, outbox_seq)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
       $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::bigint[], $15::bigint[])
     ON CONFLICT (id) DO NOTHING`,
    rows,
    [
      (row) => row.id,
      (row) => row.organizationId,
      (row) => row.type,
      (row) => row.amountMicros,
      (row) => row.balanceAfterMicros,
      (row) => row.reference.agentId,
      (row) => row.reference.conversationId,
      (row) => row.reference.callId,
      (row) => row.reference.stripeSessionId,
      (row) => row.reference.stripeChargeId,
      (row) => row.actor,
      (row) => row.reason,
      (row) => row.createdAt,
      (row) => row.position.milliseconds,
      (row) => row.position.sequence,
    ],
  );
}

export function listLedgerEntries(
  database: Queryable,
  organizationId: string,
  filter: LedgerFilter,
  page: PageRequest,
): Promise<Page<LedgerEntryRecord>> {
  const where = new Conditions();
  where.add(`organization_id = ${where.bind(organizationId)}`);
  if (filter.types) where.add(`type = ANY(${where.bind([...filter.types])}::text[])`);
  if (filter.agentId !== undefined) where.add(`agent_id = ${where.bind(filter.agentId)}`);
  if (filter.from) where.add(`created_at >= ${where.bind(filter.from.toISOString())}`);
  if (filter.to) where.add(`created_at < ${where.bind(filter.to.toISOString())}`);
  return keysetPage(database, 'ledger_entries', where, page, ledgerEntryOf);
}

/** Σ amount and count by entry type, of the entries drained up to `upTo` (all when omitted). */
export async function ledgerTotals(
  database: Queryable,
  organizationId: string,
  upTo?: DrainedBound,
): Promise<Array<{ type: LedgerEntryType; sumMicros: number; count: number }>> {
  const params: unknown[] = [organizationId];
  const bound = upToClause(upTo, params);
  const rows = await database.query<{ type: LedgerEntryType; sum: number; count: number }>(
    `SELECT type, sum(amount_micros)::bigint AS sum, count(*)::bigint AS count FROM ledger_entries
     WHERE organization_id = $1${bound} GROUP BY type`,
    params,
  );
  return rows.map((row) => ({ type: row.type, sumMicros: Number(row.sum), count: Number(row.count) }));
}

/** The purchase and refund entries (few: one a payment), for the Stripe checks of the reconcile. */
export async function paymentEntries(
  database: Queryable,
  organizationId: string,
  upTo?: DrainedBound,
): Promise<LedgerEntryRecord[]> {
  const params: unknown[] = [organizationId];
  const bound = upToClause(upTo, params);
  const rows = await database.query<LedgerRow>(
    `SELECT * FROM ledger_entries WHERE organization_id = $1 AND type IN ('purchase', 'refund')${bound}
     ORDER BY id`,
    params,
  );
  return rows.map(ledgerEntryOf);
}
