import { z } from 'zod';
import type { LedgerEntryDraft, LedgerKeys } from './credits-adjust.ts';
import { defineScript } from './define-script.ts';

export interface CheckoutKeys extends LedgerKeys {
  /** Hash: the organization's Checkout Sessions, id → record JSON. */
  sessions: string;
}

/** What a purchase and a refund of one Checkout Session both say. */
export interface CheckoutChangeArgs {
  sessionId: string;
  ledgerEntry: LedgerEntryDraft;
  /** The Stripe event it applies, kept as processed with the change; none for a sync. */
  eventId?: string;
  eventType?: string;
  nowIso: string;
}

export interface CreditsPurchaseArgs extends CheckoutChangeArgs {
  amountMicros: number;
  /** The session's record to start from when none is stored (created outside the checkout route). */
  fallbackSession: object;
  paymentIntentId: string | null;
}

/**
 * credits-purchase.lua: credits one paid Checkout Session exactly once. `amount_mismatch`: it was
 * recorded for another amount (nothing credited). `ledgerEntryId` is the purchase's entry ('' when
 * the session is not credited).
 */
export const creditsPurchase = defineScript({
  file: 'credits-purchase.lua',
  keyCount: 3,
  encode: (keys: CheckoutKeys, args: CreditsPurchaseArgs) => ({
    keys: [keys.credits, keys.historyOutbox, keys.sessions],
    args: [
      args.sessionId,
      args.amountMicros,
      args.ledgerEntry.id,
      JSON.stringify(args.ledgerEntry),
      JSON.stringify(args.fallbackSession),
      args.paymentIntentId ?? '',
      args.eventId ?? '',
      args.eventType ?? '',
      args.nowIso,
    ],
  }),
  reply: z
    .tuple([z.enum(['credited', 'duplicate', 'amount_mismatch']), z.number(), z.string()])
    .transform(([outcome, balanceMicros, ledgerEntryId]) => ({ outcome, balanceMicros, ledgerEntryId })),
});
