import { z } from 'zod';
import { defineScript } from './define-script.ts';

/** The organization's money: its balance and the outbox its ledger entries go through. */
export interface LedgerKeys {
  /** Hash: the AI-credit balance and its running totals. */
  credits: string;
  /** Stream: the history outbox (drained to PostgreSQL). */
  historyOutbox: string;
}

/** A ledger entry without its amount and balance, which the script adds (sent as JSON). */
export interface LedgerEntryDraft {
  id: string;
}

export interface CreditsAdjustArgs {
  /** Signed. */
  amountMicros: number;
  /** The running total it also moves. */
  totalField: 'granted' | 'adjusted' | 'purchased' | 'refunded';
  ledgerEntry: LedgerEntryDraft;
  /** The balance may go below zero. */
  allowNegative: boolean;
}

/**
 * credits-adjust.lua: moves the balance and appends the ledger entry that says why. `insufficient`:
 * the balance would go below zero (nothing changed); both say the balance after.
 */
export const creditsAdjust = defineScript({
  file: 'credits-adjust.lua',
  keyCount: 2,
  encode: (keys: LedgerKeys, args: CreditsAdjustArgs) => ({
    keys: [keys.credits, keys.historyOutbox],
    args: [
      args.amountMicros,
      args.totalField,
      args.ledgerEntry.id,
      JSON.stringify(args.ledgerEntry),
      args.allowNegative ? 'allow-negative' : '',
    ],
  }),
  reply: z
    .tuple([z.enum(['ok', 'insufficient']), z.number()])
    .transform(([status, balanceMicros]) => ({ status, balanceMicros })),
});
