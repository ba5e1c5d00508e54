import Stripe from 'stripe';
import type { Deps } from '../../deps.ts';
import type { Env } from '../../env.ts';
import { ApiError } from '../../errors.ts';

export type StripeClient = Stripe;

/**
 * The official client, or null when STRIPE_SECRET_KEY is unset (buying credits is then off).
 * STRIPE_API_BASE points it at any server that speaks Stripe's API (stripe-mock, a test fake):
 * the SDK takes protocol, host and port separately.
 */
export function createStripeClient(env: Env): StripeClient | null {
  if (!env.STRIPE_SECRET_KEY) return null;
  const base = env.STRIPE_API_BASE ? new URL(env.STRIPE_API_BASE) : null;
  return new Stripe(env.STRIPE_SECRET_KEY, {
    ...(base && {
      protocol: base.protocol === 'http:' ? 'http' : 'https',
      host: base.hostname,
      port: base.port || (base.protocol === 'http:' ? 80 : 443),
    }),
    // Retries reuse the request's idempotency key, so a retried create never makes two sessions.
    maxNetworkRetries: 2,
    timeout: 20_000,
    telemetry: false,
    appInfo: { name: 'mcpstack-agents' },
  });
}

export function requireStripe(deps: Pick<Deps, 'stripe'>): StripeClient {
  if (!deps.stripe) {
    throw new ApiError(
      'billing_not_configured',
      'Buying AI credits is not configured on this service: set STRIPE_SECRET_KEY (and STRIPE_WEBHOOK_SECRET for the webhook)',
    );
  }
  return deps.stripe;
}

/**
 * Calls Stripe, turning its failures into our errors: its answer to a bad request is our bug or
 * configuration (502, logged with Stripe's message), as is an unreachable or failing Stripe.
 */
export async function callStripe<T>(
  deps: Pick<Deps, 'logger'>,
  what: string,
  call: () => Promise<T>,
): Promise<T>;
/** With `allowMissing`, Stripe's "no such object" is null rather than an error. */
export async function callStripe<T>(
  deps: Pick<Deps, 'logger'>,
  what: string,
  call: () => Promise<T>,
  options: { allowMissing: true },
): Promise<T | null>;
export async function callStripe<T>(
  deps: Pick<Deps, 'logger'>,
  what: string,
  call: () => Promise<T>,
  options: { allowMissing?: boolean } = {},
): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeError)) throw error;
    if (options.allowMissing && error.code === 'resource_missing') return null;
    deps.logger.warn(
      {
        stripeType: error.type,
        stripeCode: error.code,
        statusCode: error.statusCode,
        stripeRequestId: error.requestId,
        reason: error.message,
      },
      `stripe: ${what} failed`,
    );
    throw new ApiError('payment_provider_error', `The payment provider could not ${what}; retry shortly`, {
      providerStatus: error.statusCode ?? null,
      providerCode: error.code ?? null,
    });
  }
}
