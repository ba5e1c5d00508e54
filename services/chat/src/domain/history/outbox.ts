import { z } from 'zod';
import { type LedgerEntryRecord, ledgerEntryRecord } from '../credits/ledger-entry.ts';
import { microsToUsd } from '../money.ts';
import { type LlmCallDraft, type LlmCallRecord, llmCallRecord } from './llm-calls.ts';

/**
 * The history outbox: one Redis stream per organization (`keys.historyOutbox`). The Lua scripts
 * that move money append what happened in the same step (so nothing is lost between Redis and
 * PostgreSQL), and the drainer moves the entries to PostgreSQL. Entries are small and short-lived:
 * the call record travels as a JSON array in a fixed field order (no field names), and a usage
 * debit as its id and balance only, the rest being derived from the call.
 *
 * Stream fields: `c1` a call (this encoding, version 1) and `p` its budget period, `e` + `b` its ledger debit's id and the
 * balance after it, `l` a whole ledger entry (grants, adjustments, purchases, refunds), `s` a
 * processed Stripe event.
 */

/**
 * The call's fields in their outbox order: the record as measured (its draft). The organization is
 * the stream's; what the settle script decides (the cost booked, the cost reported, the overage, who
 * settled) travels in the entry's `m` field; `costUsd` is derived.
 */
const settledFields = new Set([
  'organizationId',
  'costUsd',
  'costMicros',
  'reportedCostMicros',
  'overageMicros',
  'settledBy',
]);
const callFields = Object.keys(llmCallRecord.shape).filter(
  (field) => !settledFields.has(field),
) as (keyof LlmCallDraft['record'])[];

export function encodeCall(call: LlmCallDraft['record']): string {
  return JSON.stringify(callFields.map((field) => call[field]));
}

const settledBy = z.enum(['stream', 'journal', 'expiry']);

/** The call back from its outbox fields: `c1` (the draft) and `m` ("booked reported overage settledBy"). */
export function decodeCall(organizationId: string, encoded: string, money: string): LlmCallRecord {
  const values = z.array(z.unknown()).length(callFields.length).parse(JSON.parse(encoded));
  const record: Record<string, unknown> = { organizationId };
  callFields.forEach((field, index) => {
    record[field] = values[index];
  });
  const [booked, reported, overage, by] = money.split(' ');
  record.costMicros = Number(booked);
  record.costUsd = microsToUsd(Number(booked));
  record.reportedCostMicros = Number(reported);
  record.overageMicros = Number(overage);
  record.settledBy = settledBy.parse(by);
  return llmCallRecord.parse(record);
}

export const stripeEventRecord = z.object({
  id: z.string(),
  type: z.string(),
  outcome: z.string(),
  sessionId: z.string().nullable().default(null),
  at: z.string(),
});
export type StripeEventRecord = z.infer<typeof stripeEventRecord> & { organizationId: string };

/** Where an entry sits in its stream: drained rows keep it, so a reconcile can tell what is drained. */
export interface OutboxPosition {
  milliseconds: number;
  sequence: number;
}

export function parseStreamId(id: string): OutboxPosition {
  const [milliseconds, sequence] = id.split('-');
  return { milliseconds: Number(milliseconds), sequence: Number(sequence ?? 0) };
}

/** What one batch of outbox entries holds, ready for PostgreSQL. */
export interface HistoryBatch {
  ledger: Array<LedgerEntryRecord & { position: OutboxPosition }>;
  /** Each call with the budget period whose counters it was added to. */
  calls: Array<LlmCallRecord & { position: OutboxPosition; budgetPeriod: string }>;
  stripeEvents: StripeEventRecord[];
}

export function emptyBatch(): HistoryBatch {
  return { ledger: [], calls: [], stripeEvents: [] };
}

/** The usage debit of a paid call: what `settle` once wrote whole, rebuilt from the call. */
export function usageEntry(call: LlmCallRecord, id: string, balanceAfterMicros: number): LedgerEntryRecord {
  return {
    id,
    organizationId: call.organizationId,
    type: 'usage',
    amountMicros: -call.costMicros,
    balanceAfterMicros,
    reference: {
      agentId: call.agentId,
      conversationId: call.conversationId,
      callId: call.id,
      stripeSessionId: null,
      stripeChargeId: null,
    },
    actor: call.externalUserId !== null ? `user:${call.externalUserId}` : `visitor:${call.visitorId}`,
    reason: null,
    createdAt: call.finishedAt,
  };
}

/** Adds one stream entry (its id and flat field list, as XRANGE/XREADGROUP answer) to a batch. */
export function addEntry(
  batch: HistoryBatch,
  organizationId: string,
  streamId: string,
  flat: readonly string[],
): void {
  const position = parseStreamId(streamId);
  const fields = new Map<string, string>();
  for (let index = 0; index + 1 < flat.length; index += 2) fields.set(flat[index]!, flat[index + 1]!);
  const encodedCall = fields.get('c1');
  if (encodedCall !== undefined) {
    const call = decodeCall(organizationId, encodedCall, fields.get('m') ?? '');
    batch.calls.push({ ...call, position, budgetPeriod: fields.get('p') ?? '' });
    const entryId = fields.get('e');
    if (entryId) batch.ledger.push({ ...usageEntry(call, entryId, Number(fields.get('b'))), position });
  }
  const entry = fields.get('l');
  if (entry !== undefined) batch.ledger.push({ ...ledgerEntryRecord.parse(JSON.parse(entry)), position });
  const event = fields.get('s');
  if (event !== undefined)
    batch.stripeEvents.push({ ...stripeEventRecord.parse(JSON.parse(event)), organizationId });
}
