import { z } from 'zod';
import type { LedgerEntryDraft, LedgerKeys } from './credits-adjust.ts';
import { defineScript, type ScriptCall } from './define-script.ts';

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

/**
 * The ARGV both checkout scripts take: the session, an amount, the ledger entry, the script's own
 * argument (ARGV[5]), the PaymentIntent, the event and the time.
 */
export function checkoutCall(
  keys: CheckoutKeys,
  args: CheckoutChangeArgs,
  amountMicros: number,
  own: string,
  paymentIntentId: string,
): ScriptCall {
  return {
    keys: [keys.credits, keys.historyOutbox, keys.sessions],
    args: [
      args.sessionId,
      amountMicros,
      args.ledgerEntry.id,
      JSON.stringify(args.ledgerEntry),
      own,
      paymentIntentId,
      args.eventId ?? '',
      args.eventType ?? '',
      args.nowIso,
    ],
  };
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
  encode: (keys: CheckoutKeys, args: CreditsPurchaseArgs) =>
    checkoutCall(
      keys,
      args,
      args.amountMicros,
      JSON.stringify(args.fallbackSession),
      args.paymentIntentId ?? '',
    ),
  reply: z
    .tuple([z.enum(['credited', 'duplicate', 'amount_mismatch']), z.number(), z.string()])
    .transform(([outcome, balanceMicros, ledgerEntryId]) => ({ outcome, balanceMicros, ledgerEntryId })),
});
