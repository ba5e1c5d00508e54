import { z } from 'zod';
import type { Deps } from '../../deps.ts';

/**
 * A Stripe Checkout Session that buys AI credits: the fields of Stripe's object we rely on, and our
 * own record of each session an organization started, in its hash (written by the scripts too).
 */

export type CheckoutDeps = Pick<Deps, 'redis' | 'scripts' | 'keys' | 'clock' | 'env' | 'stripe' | 'logger'>;

/** Marks our Checkout Sessions in Stripe, so other products' payments on the account are left alone. */
export const creditPurpose = 'ai_credits';
/** One cent of USD in micro-USD: credits are bought 1:1 with dollars. */
export const microsPerCent = 10_000;

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

/** The record of a session not paid yet: what checkout writes, and the purchase script when it has none. */
export function openSessionRecord(
  session: Pick<CheckoutSessionRecord, 'id' | 'organizationId' | 'amountMicros' | 'createdAt' | 'createdBy'>,
): CheckoutSessionRecord {
  return {
    ...session,
    status: 'open',
    credited: false,
    creditedAt: null,
    ledgerEntryId: null,
    paymentIntentId: null,
    refundedMicros: 0,
    refundIds: '',
  };
}

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
