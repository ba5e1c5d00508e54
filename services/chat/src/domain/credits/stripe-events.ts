import Stripe from 'stripe';
import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import { microsToUsd } from '../money.ts';
import {
  type CheckoutDeps,
  microsPerCent,
  paymentIntentIdOf,
  stripeCheckoutSession,
} from './checkout-sessions.ts';
import { emptyReference, type LedgerEntryRecord } from './ledger-entry.ts';
import { applyCheckoutSession, type CreditSource, type PurchaseOutcome } from './purchase.ts';
import { callStripe, requireStripe } from './stripe.ts';

/**
 * How far from now a signed delivery's timestamp may be (Stripe's own default), both ways: an older
 * one is a replay, a later one a delivery signed ahead of time; both are refused.
 */
export const webhookToleranceSeconds = 300;

const stripeEvent = z.object({
  id: z.string().min(1),
  object: z.literal('event'),
  type: z.string().min(1),
  created: z.number(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});
export type StripeEvent = z.infer<typeof stripeEvent>;

const stripeCharge = z.object({
  id: z.string().min(1),
  object: z.literal('charge'),
  amount_refunded: z.number().int().nonnegative(),
  currency: z.string(),
  payment_intent: z.union([z.string(), z.object({ id: z.string() })]).nullable(),
  refunds: z
    .object({ data: z.array(z.object({ id: z.string() })) })
    .nullable()
    .optional(),
});
type StripeCharge = z.infer<typeof stripeCharge>;

/**
 * Checks the `Stripe-Signature` of the raw body with STRIPE_WEBHOOK_SECRET (and its age) through the
 * SDK, then the envelope with a schema. Any failure is a 400 `invalid_signature`: nothing is applied.
 */
export function verifyStripeEvent(
  deps: Pick<CheckoutDeps, 'env' | 'stripe' | 'clock'>,
  payload: Buffer,
  signature: string | undefined,
): StripeEvent {
  const secret = deps.env.STRIPE_WEBHOOK_SECRET;
  if (!secret || !deps.stripe) {
    throw new ApiError(
      'billing_not_configured',
      'The Stripe webhook is not configured on this service: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET',
    );
  }
  if (!signature) throw new ApiError('invalid_signature', 'The Stripe-Signature header is missing');
  let event: unknown;
  try {
    event = deps.stripe.webhooks.constructEvent(
      payload,
      signature,
      secret,
      webhookToleranceSeconds,
      undefined,
      deps.clock.now().getTime(),
    );
  } catch (error) {
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
      throw new ApiError('invalid_signature', `The Stripe signature does not verify: ${error.message}`);
    }
    throw new ApiError('invalid_signature', 'The webhook body is not a Stripe event');
  }
  // The SDK refuses only timestamps too far in the past: a signature dated ahead (a clock far off,
  // or a delivery prepared for later replay) is refused with the same tolerance the other way.
  const timestamp = Number(/(?:^|,)\s*t=(\d+)/.exec(signature)?.[1]);
  const nowSeconds = Math.floor(deps.clock.now().getTime() / 1000);
  if (!Number.isSafeInteger(timestamp) || timestamp - nowSeconds > webhookToleranceSeconds) {
    throw new ApiError(
      'invalid_signature',
      `The Stripe signature's timestamp is more than the ${webhookToleranceSeconds}-second tolerance in the future`,
    );
  }
  const parsed = stripeEvent.safeParse(event);
  if (!parsed.success) throw new ApiError('invalid_signature', 'The webhook body is not a Stripe event');
  return parsed.data;
}

export type WebhookOutcome = PurchaseOutcome | 'refunded' | 'payment_mismatch';

export interface WebhookResult {
  outcome: WebhookOutcome;
  organizationId: string | null;
  reason?: string;
}

/**
 * Applies one verified event. Paid checkouts grant credits, refunds debit them, each exactly once
 * (the Lua scripts decide); every other event type is acknowledged and ignored.
 */
export async function handleStripeEvent(deps: CheckoutDeps, event: StripeEvent): Promise<WebhookResult> {
  const source: CreditSource = { actor: 'stripe', eventId: event.id, eventType: event.type };
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = stripeCheckoutSession.safeParse(event.data.object);
      if (!session.success) return malformed(deps, event);
      return applyCheckoutSession(deps, session.data, source);
    }
    case 'charge.refunded': {
      const charge = stripeCharge.safeParse(event.data.object);
      if (!charge.success) return malformed(deps, event);
      return applyChargeRefund(deps, charge.data, source);
    }
    default:
      return { outcome: 'ignored', organizationId: null, reason: `event type ${event.type} is not used` };
  }
}

function malformed(deps: CheckoutDeps, event: StripeEvent): WebhookResult {
  deps.logger.error(
    { eventId: event.id, type: event.type },
    'stripe: event object does not have the expected shape',
  );
  return {
    outcome: 'rejected',
    organizationId: null,
    reason: 'the event object does not have the expected shape',
  };
}

const paymentLink = z.object({ organizationId: z.string(), sessionId: z.string() });

/**
 * The AI-credit purchase a PaymentIntent paid for. Known once the purchase was credited; otherwise
 * (the refund event came first) Stripe says which Checkout Session it was, and a paid session is
 * credited now, so the refund that follows has something to debit.
 */
async function purchaseOfPayment(
  deps: CheckoutDeps,
  paymentIntentId: string,
  source: CreditSource,
): Promise<{ organizationId: string; sessionId: string } | null> {
  const raw = await deps.redis.get(deps.keys.stripePaymentIntent(paymentIntentId));
  if (raw !== null) {
    const link = paymentLink.safeParse(JSON.parse(raw));
    if (link.success) return link.data;
  }
  const stripe = requireStripe(deps);
  const list = await callStripe(deps, 'find the checkout session of a payment', () =>
    stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 }),
  );
  const found = list.data[0];
  if (!found) return null;
  const session = stripeCheckoutSession.parse(found);
  const result = await applyCheckoutSession(deps, session, source);
  if ((result.outcome === 'credited' || result.outcome === 'duplicate') && result.organizationId) {
    return { organizationId: result.organizationId, sessionId: session.id };
  }
  return null;
}

async function applyChargeRefund(
  deps: CheckoutDeps,
  charge: StripeCharge,
  source: CreditSource,
): Promise<WebhookResult> {
  const paymentIntentId = paymentIntentIdOf(charge.payment_intent);
  if (charge.currency !== 'usd' || !paymentIntentId) {
    return { outcome: 'ignored', organizationId: null, reason: 'not a USD payment of a PaymentIntent' };
  }
  const purchase = await purchaseOfPayment(deps, paymentIntentId, source);
  if (!purchase)
    return { outcome: 'ignored', organizationId: null, reason: 'no AI-credit purchase for this payment' };
  const { organizationId, sessionId } = purchase;
  const keys = deps.keys.organization(organizationId);
  if ((await deps.redis.exists(keys.record)) === 0) {
    return { outcome: 'ignored', organizationId, reason: 'the organization does not exist' };
  }
  const refundIds = (charge.refunds?.data ?? []).map((refund) => refund.id);
  const refund = async () => {
    const now = deps.clock.now().toISOString();
    const entry: Omit<LedgerEntryRecord, 'amountMicros' | 'balanceAfterMicros'> = {
      id: newId('ledgerEntry'),
      organizationId,
      type: 'refund',
      reference: { ...emptyReference, stripeSessionId: sessionId, stripeChargeId: charge.id },
      actor: source.actor,
      reason: `Stripe refund of Checkout Session ${sessionId} (charge ${charge.id}${refundIds.length > 0 ? `, refunds ${refundIds.join(', ')}` : ''})`,
      createdAt: now,
    };
    return deps.scripts.creditsRefund(
      { credits: keys.credits, historyOutbox: keys.historyOutbox, sessions: keys.stripeCheckoutSessions },
      {
        sessionId,
        refundedMicros: charge.amount_refunded * microsPerCent,
        ledgerEntry: entry,
        refundIds,
        paymentIntentId,
        eventId: source.eventId,
        eventType: source.eventType,
        nowIso: now,
      },
    );
  };

  let { outcome, debitedMicros } = await refund();
  if (outcome === 'not_credited') {
    // Known but not credited (its credit is in flight, or was lost): ask Stripe, credit, retry once.
    const stripe = requireStripe(deps);
    const found = await callStripe(deps, 'retrieve the checkout session', () =>
      stripe.checkout.sessions.retrieve(sessionId),
    );
    await applyCheckoutSession(deps, stripeCheckoutSession.parse(found), source);
    ({ outcome, debitedMicros } = await refund());
    if (outcome === 'not_credited') {
      // A non-2xx answer makes Stripe deliver the refund again later.
      throw new ApiError('service_unavailable', `The purchase ${sessionId} is not credited yet; retry later`);
    }
  }
  if (outcome === 'payment_mismatch') {
    deps.logger.error(
      { sessionId, chargeId: charge.id, organizationId },
      'stripe: refund of another payment',
    );
    return { outcome, organizationId, reason: 'the charge paid another session' };
  }
  if (outcome === 'refunded') {
    deps.logger.info(
      { sessionId, chargeId: charge.id, organizationId, debitedUsd: microsToUsd(debitedMicros) },
      'ai credits refunded',
    );
  }
  return { outcome, organizationId };
}
