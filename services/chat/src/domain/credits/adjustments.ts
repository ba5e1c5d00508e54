import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { CreditsAdjustArgs } from '../../storage/scripts/credits-adjust.ts';
import { microsToUsd, usdAmount, usdToMicros } from '../money.ts';
import { emptyReference, type LedgerEntryRecord, type LedgerEntryType } from './ledger-entry.ts';

type CreditDeps = Pick<Deps, 'redis' | 'scripts' | 'keys' | 'clock'>;

export const adjustmentInput = z
  .object({
    amountUsd: usdAmount({ min: -1_000_000, max: 1_000_000 })
      .refine((value) => value !== 0, 'must not be zero')
      .describe('Signed: positive grants credits, negative debits them.'),
    reason: z.string().trim().min(1).max(500).describe('Why, for the ledger (finance reads it).'),
  })
  .strict();

interface AdjustOptions {
  type: Extract<LedgerEntryType, 'grant' | 'adjustment' | 'purchase' | 'refund'>;
  amountMicros: number;
  actor: string;
  reason: string | null;
  reference?: Partial<LedgerEntryRecord['reference']>;
  allowNegative?: boolean;
}

const totalField: Record<AdjustOptions['type'], CreditsAdjustArgs['totalField']> = {
  grant: 'granted',
  adjustment: 'adjusted',
  purchase: 'purchased',
  refund: 'refunded',
};

/** Moves the balance and appends its ledger entry atomically; refuses to go below zero by default. */
export async function adjustCredits(
  deps: CreditDeps,
  organizationId: string,
  options: AdjustOptions,
): Promise<LedgerEntryRecord> {
  const keys = deps.keys.organization(organizationId);
  const entry: Omit<LedgerEntryRecord, 'amountMicros' | 'balanceAfterMicros'> = {
    id: newId('ledgerEntry'),
    organizationId,
    type: options.type,
    reference: { ...emptyReference, ...options.reference },
    actor: options.actor,
    reason: options.reason,
    createdAt: deps.clock.now().toISOString(),
  };
  const { status, balanceMicros } = await deps.scripts.creditsAdjust(
    { credits: keys.credits, historyOutbox: keys.historyOutbox },
    {
      amountMicros: options.amountMicros,
      totalField: totalField[options.type],
      ledgerEntry: entry,
      allowNegative: options.allowNegative ?? false,
    },
  );
  if (status === 'insufficient') {
    throw new ApiError(
      'insufficient_credits',
      `The balance is ${microsToUsd(balanceMicros)} USD: a debit of ${microsToUsd(-options.amountMicros)} USD would take it below zero`,
      { balanceUsd: microsToUsd(balanceMicros) },
    );
  }
  return { ...entry, amountMicros: options.amountMicros, balanceAfterMicros: balanceMicros };
}

/** The free credits a new organization starts with (MCPSTACK_FREE_CREDITS_USD; 0 grants none). */
export async function grantStarterCredits(
  deps: CreditDeps & Pick<Deps, 'env'>,
  organizationId: string,
): Promise<void> {
  const micros = usdToMicros(deps.env.MCPSTACK_FREE_CREDITS_USD);
  if (micros <= 0) return;
  await adjustCredits(deps, organizationId, {
    type: 'grant',
    amountMicros: micros,
    actor: 'system',
    reason: 'Free credits for a new organization',
  });
}
