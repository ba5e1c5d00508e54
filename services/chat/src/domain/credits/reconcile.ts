import type { Deps } from '../../deps.ts';
import { type Books, counterDifferences, creditTotals, readBooks } from '../history/books.ts';
import { microsToUsd } from '../money.ts';
import {
  type CheckoutSessionRecord,
  readCheckoutSessions,
  stripeCheckoutSession,
} from './checkout-sessions.ts';
import type { LedgerEntryRecord } from './ledger-entry.ts';

type ReconcileDeps = Pick<Deps, 'redis' | 'keys' | 'clock' | 'stripe' | 'logger' | 'history' | 'stores'>;

export type DifferenceKind =
  | 'balance_mismatch'
  | 'total_mismatch'
  | 'counter_mismatch'
  | 'purchase_without_session'
  | 'credited_session_without_purchase'
  | 'duplicate_purchase'
  | 'purchase_amount_mismatch'
  | 'refund_mismatch'
  | 'paid_session_not_credited'
  | 'stripe_unavailable';

export interface ReconcileDifference {
  kind: DifferenceKind;
  message: string;
  sessionId?: string;
  entryId?: string;
  expectedUsd?: number;
  actualUsd?: number;
}

export interface ReconcileReport {
  organizationId: string;
  /** True when every check passed: the ledger, the balance and Stripe agree. */
  ok: boolean;
  checkedAt: string;
  balanceUsd: number;
  ledgerSumUsd: number;
  entryCount: number;
  /** Outbox entries not drained to PostgreSQL yet (counted from Redis). */
  undrainedCount: number;
  checkoutSessionCount: number;
  creditedSessionCount: number;
  /** Whether sessions not credited were looked up in Stripe (false when Stripe is not configured). */
  stripeChecked: boolean;
  differences: ReconcileDifference[];
  warnings: string[];
}

const usd = microsToUsd;

/**
 * Proves the organization's credits: Redis's balance = Σ of the ledger (PostgreSQL's entries plus
 * the outbox's undrained tail), each running total and month counter = the sum of its entries or
 * calls, every credited Checkout Session has exactly one purchase entry of its amount (and no
 * purchase entry lacks a session), its refunds add up, and no session Stripe reports paid is left
 * uncredited. Reads only.
 */
export async function reconcileCredits(
  deps: ReconcileDeps,
  organizationId: string,
): Promise<ReconcileReport> {
  // The books pair one Redis snapshot with what PostgreSQL held drained of it: consistent as read.
  // The agents' counters are read after it, so traffic meanwhile may show as a difference: retry.
  for (let attempt = 1; ; attempt++) {
    const report = await reconcileLedger(deps, organizationId, await readBooks(deps, organizationId));
    const countersOnly = report.differences.every((difference) => difference.kind === 'counter_mismatch');
    if (report.differences.length === 0 || !countersOnly || attempt === 3) {
      const pending = report.pending;
      if (pending.length > 0 && !deps.stripe) {
        report.warnings.push(
          `${pending.length} Checkout Session(s) not credited could not be checked: Stripe is not configured (STRIPE_SECRET_KEY)`,
        );
      } else {
        report.stripeChecked = true;
        report.differences.push(...(await uncreditedPaidSessions(deps, pending)));
      }
      const { pending: _pending, ...rest } = report;
      return { ...rest, ok: rest.differences.length === 0 };
    }
  }
}

async function reconcileLedger(
  deps: ReconcileDeps,
  organizationId: string,
  books: Books,
): Promise<ReconcileReport & { pending: CheckoutSessionRecord[] }> {
  const differences: ReconcileDifference[] = [];
  const warnings: string[] = [];

  const purchasesBySession = new Map<string, LedgerEntryRecord[]>();
  const refundsBySession = new Map<string, number>();
  for (const entry of books.paymentEntries) {
    const sessionId = entry.reference.stripeSessionId;
    if (entry.type === 'purchase') {
      if (sessionId === null) {
        differences.push({
          kind: 'purchase_without_session',
          entryId: entry.id,
          actualUsd: usd(entry.amountMicros),
          message: `Purchase entry ${entry.id} names no Stripe Checkout Session`,
        });
      } else {
        purchasesBySession.set(sessionId, [...(purchasesBySession.get(sessionId) ?? []), entry]);
      }
    }
    if (entry.type === 'refund' && sessionId !== null) {
      refundsBySession.set(sessionId, (refundsBySession.get(sessionId) ?? 0) - entry.amountMicros);
    }
  }

  const credits = books.actualCredits;
  const sum = books.ledgerSumMicros;
  const balance = Number(credits.balance ?? 0);
  if (balance !== sum) {
    differences.push({
      kind: 'balance_mismatch',
      expectedUsd: usd(sum),
      actualUsd: usd(balance),
      message: `The balance is ${usd(balance)} USD but the ledger entries add up to ${usd(sum)} USD`,
    });
  }
  for (const { field, type } of creditTotals) {
    const expected = books.expectedCredits[field] ?? 0;
    const actual = Number(credits[field] ?? 0);
    if (expected !== actual) {
      differences.push({
        kind: 'total_mismatch',
        expectedUsd: usd(expected),
        actualUsd: usd(actual),
        message: `The ${field} total is ${usd(actual)} USD but the ${type} entries add up to ${usd(expected)} USD`,
      });
    }
  }
  const months = Object.fromEntries(
    Object.entries(books.expectedCredits).filter(([field]) => field.startsWith('spent:')),
  );
  const actualMonths = Object.fromEntries(
    Object.entries(credits).filter(([field]) => field.startsWith('spent:')),
  );
  for (const { field, expected, actual } of counterDifferences(months, actualMonths)) {
    differences.push({
      kind: 'counter_mismatch',
      expectedUsd: usd(expected),
      actualUsd: usd(actual),
      message: `The credits' ${field} counter is ${actual} but the LLM calls add up to ${expected}`,
    });
  }
  for (const agent of books.agents) {
    for (const { field, expected, actual } of counterDifferences(agent.expected, agent.actual)) {
      differences.push({
        kind: 'counter_mismatch',
        message: `Agent ${agent.agentId}'s ${field} counter of the period ${agent.periodId} is ${actual} but its LLM calls add up to ${expected}`,
      });
    }
  }

  const sessions = await readCheckoutSessions(deps, organizationId);
  const byId = new Map(sessions.map((session) => [session.id, session]));
  for (const [sessionId, purchases] of purchasesBySession) {
    if (!byId.get(sessionId)?.credited) {
      for (const entry of purchases) {
        differences.push({
          kind: 'purchase_without_session',
          entryId: entry.id,
          sessionId,
          actualUsd: usd(entry.amountMicros),
          message: `Purchase entry ${entry.id} names Checkout Session ${sessionId}, which is not recorded as credited`,
        });
      }
    }
  }
  const credited = sessions.filter((session) => session.credited);
  for (const session of credited) {
    const purchases = purchasesBySession.get(session.id) ?? [];
    if (purchases.length === 0) {
      differences.push({
        kind: 'credited_session_without_purchase',
        sessionId: session.id,
        expectedUsd: usd(session.amountMicros),
        message: `Checkout Session ${session.id} is marked credited but has no purchase entry`,
      });
    } else if (purchases.length > 1) {
      differences.push({
        kind: 'duplicate_purchase',
        sessionId: session.id,
        expectedUsd: usd(session.amountMicros),
        actualUsd: usd(purchases.reduce((total, entry) => total + entry.amountMicros, 0)),
        message: `Checkout Session ${session.id} has ${purchases.length} purchase entries: ${purchases.map((entry) => entry.id).join(', ')}`,
      });
    } else if (purchases[0]!.amountMicros !== session.amountMicros) {
      differences.push({
        kind: 'purchase_amount_mismatch',
        sessionId: session.id,
        entryId: purchases[0]!.id,
        expectedUsd: usd(session.amountMicros),
        actualUsd: usd(purchases[0]!.amountMicros),
        message: `Checkout Session ${session.id} was for ${usd(session.amountMicros)} USD but its purchase entry credits ${usd(purchases[0]!.amountMicros)} USD`,
      });
    }
    const refunded = refundsBySession.get(session.id) ?? 0;
    if (refunded !== session.refundedMicros || refunded > session.amountMicros) {
      differences.push({
        kind: 'refund_mismatch',
        sessionId: session.id,
        expectedUsd: usd(session.refundedMicros),
        actualUsd: usd(refunded),
        message: `Checkout Session ${session.id} has ${usd(session.refundedMicros)} USD refunded but its refund entries debit ${usd(refunded)} USD`,
      });
    }
  }
  for (const [sessionId, refunded] of refundsBySession) {
    if (!byId.get(sessionId)?.credited) {
      differences.push({
        kind: 'refund_mismatch',
        sessionId,
        actualUsd: usd(refunded),
        message: `Refund entries debit ${usd(refunded)} USD for Checkout Session ${sessionId}, which is not credited`,
      });
    }
  }

  return {
    organizationId,
    ok: differences.length === 0,
    checkedAt: deps.clock.now().toISOString(),
    balanceUsd: usd(balance),
    ledgerSumUsd: usd(sum),
    entryCount: books.entryCount,
    undrainedCount: books.tailLength,
    checkoutSessionCount: sessions.length,
    creditedSessionCount: credited.length,
    stripeChecked: false,
    differences,
    warnings,
    pending: sessions.filter((session) => !session.credited && session.status === 'open'),
  };
}

/** Asks Stripe about each session not credited yet: a paid one is a missed webhook. */
async function uncreditedPaidSessions(
  deps: ReconcileDeps,
  pending: CheckoutSessionRecord[],
): Promise<ReconcileDifference[]> {
  const stripe = deps.stripe;
  if (!stripe || pending.length === 0) return [];
  const differences: ReconcileDifference[] = [];
  const queue = [...pending];
  const worker = async () => {
    for (let session = queue.shift(); session; session = queue.shift()) {
      try {
        const found = stripeCheckoutSession.parse(await stripe.checkout.sessions.retrieve(session.id));
        if (found.payment_status === 'paid') {
          differences.push({
            kind: 'paid_session_not_credited',
            sessionId: session.id,
            expectedUsd: usd(session.amountMicros),
            message: `Checkout Session ${session.id} is paid in Stripe but not credited: sync it (POST …/ai-credits/checkout-session/${session.id}/sync)`,
          });
        }
      } catch (error) {
        deps.logger.warn({ sessionId: session.id, reason: String(error) }, 'reconcile: stripe lookup failed');
        differences.push({
          kind: 'stripe_unavailable',
          sessionId: session.id,
          message: `Checkout Session ${session.id} could not be checked in Stripe: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(5, pending.length) }, worker));
  return differences;
}
