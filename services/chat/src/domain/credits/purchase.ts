import { newId } from '../../ids.ts';
import { microsToUsd } from '../money.ts';
import {
  type CheckoutDeps,
  creditPurpose,
  microsPerCent,
  openSessionRecord,
  paymentIntentIdOf,
  type StripeCheckoutSession,
} from './checkout-sessions.ts';
import { emptyReference, type LedgerEntryRecord } from './ledger-entry.ts';

/**
 * Crediting a paid Checkout Session, once, to the organization that started it: from the Stripe
 * webhook (a completed session, or a refund that came before its purchase) and a sync alike.
 */

export type PurchaseOutcome =
  | 'credited'
  | 'duplicate'
  | 'amount_mismatch'
  | 'not_paid'
  | 'ignored'
  | 'rejected';

export interface PurchaseResult {
  outcome: PurchaseOutcome;
  organizationId: string | null;
  reason?: string;
  balanceMicros?: number;
  ledgerEntryId?: string;
}

type Purchase =
  | { ok: true; amountMicros: number }
  | { ok: false; outcome: 'ignored' | 'rejected'; reason: string };

/**
 * What a Checkout Session buys, cross-checked: ours (metadata), payment mode, USD, and the amount
 * Stripe charged equal to the credits the metadata promises. Which organization it credits is not
 * read here: that is our own record's answer (ownerOfSession).
 */
export function purchaseOf(session: StripeCheckoutSession): Purchase {
  const metadata = session.metadata ?? {};
  if (metadata.purpose !== creditPurpose) {
    return { ok: false, outcome: 'ignored', reason: 'not an AI-credit checkout' };
  }
  const reject = (reason: string): Purchase => ({ ok: false, outcome: 'rejected', reason });
  if (session.mode !== 'payment') return reject(`mode is ${session.mode}, not payment`);
  if (session.currency !== 'usd') return reject(`currency is ${session.currency}, not usd`);
  const amountMicros = Number(metadata.creditAmountMicros);
  if (!Number.isSafeInteger(amountMicros) || amountMicros <= 0) {
    return reject('metadata.creditAmountMicros is not a positive integer');
  }
  if (session.amount_total === null || session.amount_total * microsPerCent !== amountMicros) {
    return reject(
      `amount_total ${session.amount_total} cents does not match ${microsToUsd(amountMicros)} USD of credits`,
    );
  }
  return { ok: true, amountMicros };
}

/**
 * The organization that started a Checkout Session, from our own records: the owner index written
 * at checkout, else (a session recorded before that index existed) the record in the named
 * organization's own sessions. Null for a session this service never started.
 */
async function ownerOfSession(
  deps: CheckoutDeps,
  session: StripeCheckoutSession,
  claimed: string | null,
): Promise<string | null> {
  const owner = await deps.redis.get(deps.keys.stripeCheckoutSession(session.id));
  if (owner !== null) return owner;
  if (claimed === null) return null;
  const recorded = await deps.redis.hexists(
    deps.keys.organization(claimed).stripeCheckoutSessions,
    session.id,
  );
  return recorded === 1 ? claimed : null;
}

export interface CreditSource {
  actor: string;
  eventId?: string;
  eventType?: string;
}

/**
 * Credits a paid Checkout Session once (see credits-purchase.lua) to the organization that started
 * it; any other session changes nothing. `knownOwner` is given by a sync, which found the session
 * in that organization's own records.
 */
export async function applyCheckoutSession(
  deps: CheckoutDeps,
  session: StripeCheckoutSession,
  source: CreditSource,
  knownOwner?: string,
): Promise<PurchaseResult> {
  const claimed = session.metadata?.organizationId ?? null;
  const purchase = purchaseOf(session);
  if (!purchase.ok) {
    if (purchase.outcome === 'rejected') {
      deps.logger.error(
        { sessionId: session.id, organizationId: claimed, reason: purchase.reason },
        'stripe: checkout session refused',
      );
    }
    return { outcome: purchase.outcome, organizationId: null, reason: purchase.reason };
  }
  const organizationId = knownOwner ?? (await ownerOfSession(deps, session, claimed));
  if (organizationId === null) {
    const reason = 'this service never started a checkout session with this id';
    deps.logger.error(
      { sessionId: session.id, claimedOrganizationId: claimed, reason },
      'stripe: checkout session refused',
    );
    return { outcome: 'rejected', organizationId: null, reason };
  }
  let mismatch: string | undefined;
  if (claimed !== organizationId || session.client_reference_id !== organizationId) {
    // Signed by Stripe, but its organization fields were changed after checkout (metadata is
    // editable in Stripe): the purchase stays with the organization that started it.
    mismatch = `the event names organization ${claimed ?? 'none'} (client_reference_id ${session.client_reference_id ?? 'none'}); the session belongs to ${organizationId}`;
    deps.logger.error(
      {
        sessionId: session.id,
        organizationId,
        claimedOrganizationId: claimed,
        clientReferenceId: session.client_reference_id,
        eventId: source.eventId,
      },
      'stripe: checkout session names another organization than the one that started it',
    );
  }
  const { amountMicros } = purchase;
  if (session.payment_status !== 'paid') {
    return { outcome: 'not_paid', organizationId, reason: `payment_status is ${session.payment_status}` };
  }
  const keys = deps.keys.organization(organizationId);
  if ((await deps.redis.exists(keys.record)) === 0) {
    deps.logger.warn(
      { sessionId: session.id, organizationId },
      'stripe: paid session of a deleted organization',
    );
    return { outcome: 'ignored', organizationId, reason: 'the organization does not exist' };
  }
  const now = deps.clock.now().toISOString();
  const paymentIntentId = paymentIntentIdOf(session.payment_intent);
  const entry: Omit<LedgerEntryRecord, 'amountMicros' | 'balanceAfterMicros'> = {
    id: newId('ledgerEntry'),
    organizationId,
    type: 'purchase',
    reference: { ...emptyReference, stripeSessionId: session.id },
    actor: source.actor,
    reason: `Stripe Checkout Session ${session.id}`,
    createdAt: now,
  };
  const fallback = openSessionRecord({
    id: session.id,
    organizationId,
    amountMicros,
    createdAt: session.created ? new Date(session.created * 1000).toISOString() : now,
    createdBy: 'stripe',
  });
  const { outcome, balanceMicros, ledgerEntryId } = await deps.scripts.creditsPurchase(
    { credits: keys.credits, historyOutbox: keys.historyOutbox, sessions: keys.stripeCheckoutSessions },
    {
      sessionId: session.id,
      amountMicros,
      ledgerEntry: entry,
      fallbackSession: fallback,
      paymentIntentId: paymentIntentId ?? null,
      eventId: source.eventId,
      eventType: source.eventType,
      nowIso: now,
    },
  );
  if (outcome === 'amount_mismatch') {
    deps.logger.error(
      { sessionId: session.id, organizationId, amountMicros },
      'stripe: paid session differs from the amount recorded at checkout; not credited',
    );
    return { outcome, organizationId, reason: 'the amount differs from the one recorded at checkout' };
  }
  if (paymentIntentId) {
    await deps.redis.set(
      deps.keys.stripePaymentIntent(paymentIntentId),
      JSON.stringify({ organizationId, sessionId: session.id }),
    );
  }
  if (outcome === 'credited') {
    deps.logger.info(
      { sessionId: session.id, organizationId, amountUsd: microsToUsd(amountMicros), by: source.actor },
      'ai credits purchased',
    );
  }
  return {
    outcome,
    organizationId,
    balanceMicros,
    ledgerEntryId,
    ...(mismatch && { reason: mismatch }),
  };
}
