import type { HistoryBatch, StripeEventRecord } from '../../domain/history/outbox.ts';
import type { Queryable } from './database.ts';
import { insertColumns } from './unnest-insert.ts';

/** Writes drained Stripe events (the webhook's idempotency record); an event already written is skipped. */
export async function insertStripeEvents(
  transaction: Queryable,
  rows: HistoryBatch['stripeEvents'],
): Promise<void> {
  await insertColumns(
    transaction,
    `INSERT INTO stripe_events (id, organization_id, type, outcome, session_id, processed_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
     ON CONFLICT (id) DO NOTHING`,
    rows,
    [
      (row) => row.id,
      (row) => row.organizationId,
      (row) => row.type,
      (row) => row.outcome,
      (row) => row.sessionId,
      (row) => row.at,
    ],
  );
}

export async function stripeEvent(
  database: Queryable,
  organizationId: string,
  eventId: string,
): Promise<StripeEventRecord | null> {
  const [row] = await database.query<{
    id: string;
    type: string;
    outcome: string;
    session_id: string | null;
    processed_at: Date;
  }>('SELECT * FROM stripe_events WHERE organization_id = $1 AND id = $2', [organizationId, eventId]);
  if (!row) return null;
  return {
    id: row.id,
    organizationId,
    type: row.type,
    outcome: row.outcome,
    sessionId: row.session_id,
    at: new Date(row.processed_at).toISOString(),
  };
}
