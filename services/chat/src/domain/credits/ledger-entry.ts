import { z } from 'zod';
import { microsToUsd } from '../money.ts';

export const ledgerEntryTypes = ['purchase', 'grant', 'usage', 'refund', 'adjustment'] as const;
export type LedgerEntryType = (typeof ledgerEntryTypes)[number];

/** One ledger entry: appended to the outbox by the script that moves the balance, then kept in PostgreSQL. */
export const ledgerEntryRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  type: z.enum(ledgerEntryTypes),
  amountMicros: z.number().int(),
  balanceAfterMicros: z.number().int(),
  reference: z.object({
    agentId: z.string().nullable(),
    conversationId: z.string().nullable(),
    callId: z.string().nullable(),
    stripeSessionId: z.string().nullable(),
    stripeChargeId: z.string().nullable(),
  }),
  actor: z.string(),
  reason: z.string().nullable(),
  createdAt: z.string(),
});
export type LedgerEntryRecord = z.infer<typeof ledgerEntryRecord>;

export const emptyReference: LedgerEntryRecord['reference'] = {
  agentId: null,
  conversationId: null,
  callId: null,
  stripeSessionId: null,
  stripeChargeId: null,
};

/** The entry as the API shows it: USD decimals. */
export function viewLedgerEntry(entry: LedgerEntryRecord) {
  const { organizationId: _organization, amountMicros, balanceAfterMicros, ...rest } = entry;
  return { ...rest, amountUsd: microsToUsd(amountMicros), balanceAfterUsd: microsToUsd(balanceAfterMicros) };
}
