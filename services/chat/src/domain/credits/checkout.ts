import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import { microsToUsd } from '../money.ts';
import { emptyReference, type LedgerEntryRecord } from './ledger-entry.ts';
import { callStripe, requireStripe } from './stripe.ts';

export type CheckoutDeps = Pick<Deps, 'redis' | 'scripts' | 'keys' | 'clock' | 'env' | 'stripe' | 'logger'>;

/** Marks our Checkout Sessions in Stripe, so other products' payments on the account are left alone. */
export const creditPurpose = 'ai_credits';
/** One cent of USD in micro-USD: credits are bought 1:1 with dollars. */
export const microsPerCent = 10_000;

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

/** Our record of one Checkout Session, in the organization's hash (written by the scripts too). */
export const checkoutSessionRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  amountMicros: z.number().int().positive(),
  status: z.string().describe('open, paid or expired'),
  credited: z.boolean(),
  createdAt: z.string(),
  createdBy: z.string(),
  creditedAt: z.string().nullable(),
  ledgerEntryId: z.string().nullable(),
  paymentIntentId: z.string().nullable(),
  refundedMicros: z.number().int(),
  /** Comma-separated Stripe refund ids seen for this payment (Lua's cjson cannot round-trip `[]`). */
  refundIds: z.string(),
});
export type CheckoutSessionRecord = z.infer<typeof checkoutSessionRecord>;

/** The fields of a Stripe Checkout Session we rely on, from the API or a webhook payload. */
export const stripeCheckoutSession = z.object({
  id: z.string().min(1),
  object: z.literal('checkout.session'),
  mode: z.string(),
  status: z.string().nullable(),
  payment_status: z.string(),
  amount_total: z.number().int().nullable(),
  currency: z.string().nullable(),
  client_reference_id: z.string().nullable(),
  metadata: z.record(z.string(), z.string()).nullable(),
  payment_intent: z.union([z.string(), z.object({ id: z.string() })]).nullable(),
  created: z.number().optional(),
});
export type StripeCheckoutSession = z.infer<typeof stripeCheckoutSession>;

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

export function paymentIntentIdOf(value: string | { id: string } | null): string | null {
  if (value === null) return null;
  return typeof value === 'string' ? value : value.id;
}

const sessionIdPattern = /^cs_[A-Za-z0-9_]{1,250}$/;

export async function readCheckoutSession(
  deps: Pick<Deps, 'redis' | 'keys'>,
  organizationId: string,
  sessionId: string,
): Promise<CheckoutSessionRecord | null> {
  if (!sessionIdPattern.test(sessionId)) return null;
  const raw = await deps.redis.hget(deps.keys.organization(organizationId).stripeCheckoutSessions, sessionId);
  return raw === null ? null : checkoutSessionRecord.parse(JSON.parse(raw));
}

export async function readCheckoutSessions(
  deps: Pick<Deps, 'redis' | 'keys'>,
  organizationId: string,
): Promise<CheckoutSessionRecord[]> {
  const all = await deps.redis.hgetall(deps.keys.organization(organizationId).stripeCheckoutSessions);
  return Object.values(all).map((raw) => checkoutSessionRecord.parse(JSON.parse(raw)));
}

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
  const record: CheckoutSessionRecord = {
    id: session.id,
    organizationId,
    amountMicros,
    status: 'open',
    credited: false,
    createdAt: deps.clock.now().toISOString(),
    createdBy: actor,
    creditedAt: null,
    ledgerEntryId: null,
    paymentIntentId: null,
    refundedMicros: 0,
    refundIds: '',
  };
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
  const fallback: CheckoutSessionRecord = {
    id: session.id,
    organizationId,
    amountMicros,
    status: 'open',
    credited: false,
    createdAt: session.created ? new Date(session.created * 1000).toISOString() : now,
    createdBy: 'stripe',
    creditedAt: null,
    ledgerEntryId: null,
    paymentIntentId: null,
    refundedMicros: 0,
    refundIds: '',
  };
  const [outcome, balance, ledgerEntryId] = (await deps.scripts.run(
    'creditsPurchase',
    [keys.credits, keys.historyOutbox, keys.stripeCheckoutSessions],
    [
      session.id,
      amountMicros,
      entry.id,
      JSON.stringify(entry),
      JSON.stringify(fallback),
      paymentIntentId ?? '',
      source.eventId ?? '',
      source.eventType ?? '',
      now,
    ],
  )) as ['credited' | 'duplicate' | 'amount_mismatch', number, string];
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
    balanceMicros: Number(balance),
    ledgerEntryId,
    ...(mismatch && { reason: mismatch }),
  };
}

/** An expired session can never be paid: the reconcile stops asking Stripe about it. */
async function markExpired(deps: CheckoutDeps, organizationId: string, sessionId: string): Promise<void> {
  const key = deps.keys.organization(organizationId).stripeCheckoutSessions;
  const raw = await deps.redis.hget(key, sessionId);
  if (raw === null) return;
  const record = checkoutSessionRecord.parse(JSON.parse(raw));
  if (record.credited || record.status !== 'open') return;
  // Compare-and-set: a concurrent credit (which cannot happen to an expired session) would win.
  await deps.scripts.run(
    'hashFieldSwap',
    [key],
    [sessionId, raw, JSON.stringify({ ...record, status: 'expired' })],
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
