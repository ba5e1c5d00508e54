import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import { microsToUsd } from '../money.ts';
import {
  type CheckoutDeps,
  checkoutSessionRecord,
  creditPurpose,
  microsPerCent,
  openSessionRecord,
  readCheckoutSession,
  stripeCheckoutSession,
} from './checkout-sessions.ts';
import { applyCheckoutSession } from './purchase.ts';
import { callStripe, requireStripe } from './stripe.ts';

/**
 * Buying credits from the API: a Checkout Session started for the organization, and a sync that
 * asks Stripe about it when its webhook is missed or late.
 */

const httpUrl = z
  .string()
  .max(2000)
  .refine((value) => {
    if (!URL.canParse(value)) return false;
    return ['http:', 'https:'].includes(new URL(value).protocol);
  }, 'must be an http(s) URL');

export const checkoutInput = z
  .object({
    creditAmountUsd: z
      .number()
      .positive()
      .refine((value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, {
        message: 'must be whole cents (at most 2 decimals)',
      })
      .describe('USD to pay; the organization receives the same amount of AI credits.'),
    successUrl: httpUrl
      .optional()
      .describe('Where Stripe sends the buyer after paying; may hold {CHECKOUT_SESSION_ID}.'),
    cancelUrl: httpUrl.optional().describe('Where Stripe sends the buyer who gives up.'),
  })
  .strict();
export type CheckoutInput = z.infer<typeof checkoutInput>;

export interface CheckoutView {
  id: string;
  url: string;
  creditAmountUsd: number;
  status: string;
}

/**
 * Creates a Stripe Checkout Session (payment mode) for `creditAmountUsd` of credits and records it,
 * so the reconcile knows every session this organization started. Nothing is credited here: only
 * a paid session (webhook or sync) is.
 */
export async function createCreditCheckout(
  deps: CheckoutDeps,
  organizationId: string,
  input: CheckoutInput,
  actor: string,
): Promise<CheckoutView> {
  const { MCPSTACK_CREDITS_MIN_PURCHASE_USD: min, MCPSTACK_CREDITS_MAX_PURCHASE_USD: max } = deps.env;
  if (input.creditAmountUsd < min || input.creditAmountUsd > max) {
    throw new ApiError(
      'validation_failed',
      `body.creditAmountUsd: must be from ${min} to ${max} USD (MCPSTACK_CREDITS_MIN_PURCHASE_USD, MCPSTACK_CREDITS_MAX_PURCHASE_USD)`,
      { issues: [{ path: 'body.creditAmountUsd', message: `must be from ${min} to ${max} USD` }] },
    );
  }
  const stripe = requireStripe(deps);
  const cents = Math.round(input.creditAmountUsd * 100);
  const amountMicros = cents * microsPerCent;
  const creditAmountUsd = microsToUsd(amountMicros);
  const session = await callStripe(deps, 'create the checkout session', () =>
    stripe.checkout.sessions.create(
      {
        mode: 'payment',
        line_items: [
          {
            quantity: 1,
            price_data: {
              currency: 'usd',
              unit_amount: cents,
              product_data: {
                name: 'AI credits',
                description: `${creditAmountUsd.toFixed(2)} USD of MCP Stack AI credits`,
              },
            },
          },
        ],
        client_reference_id: organizationId,
        metadata: { purpose: creditPurpose, organizationId, creditAmountMicros: String(amountMicros) },
        payment_intent_data: { metadata: { purpose: creditPurpose, organizationId } },
        success_url: input.successUrl ?? deps.env.MCPSTACK_CHECKOUT_SUCCESS_URL,
        cancel_url: input.cancelUrl ?? deps.env.MCPSTACK_CHECKOUT_CANCEL_URL,
      },
      // One key per purchase attempt: the SDK's network retries reuse it, so Stripe makes one session.
      { idempotencyKey: `ai-credits-checkout:${organizationId}:${randomUUID()}` },
    ),
  );
  if (!session.url) {
    throw new ApiError(
      'payment_provider_error',
      'The payment provider returned a checkout session without a URL',
    );
  }
  const record = openSessionRecord({
    id: session.id,
    organizationId,
    amountMicros,
    createdAt: deps.clock.now().toISOString(),
    createdBy: actor,
  });
  // Whose session this is, for the webhook: the organization of a purchase comes from here, never
  // from the event (whose metadata can be edited in Stripe). Written before the record, so a record
  // never lacks its owner; NX, so nothing re-points it.
  await deps.redis.set(deps.keys.stripeCheckoutSession(session.id), organizationId, 'NX');
  // HSETNX: a webhook that (however unlikely) credited the session first keeps its record.
  await deps.redis.hsetnx(
    deps.keys.organization(organizationId).stripeCheckoutSessions,
    session.id,
    JSON.stringify(record),
  );
  return { id: session.id, url: session.url, creditAmountUsd, status: session.status ?? 'open' };
}

/** An expired session can never be paid: the reconcile stops asking Stripe about it. */
async function markExpired(deps: CheckoutDeps, organizationId: string, sessionId: string): Promise<void> {
  const key = deps.keys.organization(organizationId).stripeCheckoutSessions;
  const raw = await deps.redis.hget(key, sessionId);
  if (raw === null) return;
  const record = checkoutSessionRecord.parse(JSON.parse(raw));
  if (record.credited || record.status !== 'open') return;
  // Compare-and-set: a concurrent credit (which cannot happen to an expired session) would win.
  await deps.scripts.hashFieldSwap(
    { hash: key },
    { field: sessionId, expected: raw, value: JSON.stringify({ ...record, status: 'expired' }) },
  );
}

export interface SyncView {
  id: string;
  status: string | null;
  paymentStatus: string;
  creditAmountUsd: number;
  credited: boolean;
  outcome: 'credited' | 'already_credited' | 'not_paid' | 'rejected';
  balanceUsd: number;
}

/**
 * Reads the session from Stripe and applies the same grant as the webhook: a missed or delayed
 * webhook is recovered, and a later webhook for it changes nothing. Another organization's session
 * (or one this service never started) is a 404.
 */
export async function syncCreditCheckout(
  deps: CheckoutDeps,
  organizationId: string,
  sessionId: string,
  actor: string,
): Promise<SyncView> {
  const notFound = () =>
    new ApiError('checkout_session_not_found', `No checkout session ${sessionId} in this organization`);
  const recorded = await readCheckoutSession(deps, organizationId, sessionId);
  if (!recorded) throw notFound();
  const stripe = requireStripe(deps);
  const found = await callStripe(
    deps,
    'retrieve the checkout session',
    () => stripe.checkout.sessions.retrieve(sessionId),
    { allowMissing: true },
  );
  if (!found) throw notFound();
  const session = stripeCheckoutSession.parse(found);
  // Our record says the session is this organization's; the session's own fields cannot move it.
  const result = await applyCheckoutSession(deps, session, { actor }, organizationId);
  if (result.outcome === 'not_paid' && session.status === 'expired') {
    await markExpired(deps, organizationId, sessionId);
  }
  const balance = Number(
    (await deps.redis.hget(deps.keys.organization(organizationId).credits, 'balance')) ?? 0,
  );
  const outcome =
    result.outcome === 'credited'
      ? 'credited'
      : result.outcome === 'duplicate'
        ? 'already_credited'
        : result.outcome === 'not_paid'
          ? 'not_paid'
          : 'rejected';
  return {
    id: session.id,
    status: session.status,
    paymentStatus: session.payment_status,
    creditAmountUsd: microsToUsd(recorded.amountMicros),
    credited: outcome === 'credited' || outcome === 'already_credited',
    outcome,
    balanceUsd: microsToUsd(balance),
  };
}
