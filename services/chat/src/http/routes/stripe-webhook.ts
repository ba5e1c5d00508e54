import { z } from 'zod';
import { handleStripeEvent, verifyStripeEvent } from '../../domain/credits/stripe-events.ts';
import { ApiError } from '../../errors.ts';
import { defineRawBodyRoute } from '../route.ts';
import { errorResponse } from '../schemas.ts';

const receivedView = z.object({
  received: z.literal(true),
  eventId: z.string(),
  outcome: z
    .enum([
      'credited',
      'duplicate',
      'amount_mismatch',
      'not_paid',
      'ignored',
      'rejected',
      'refunded',
      'payment_mismatch',
    ])
    .describe('What the event did: credited (once), duplicate, refunded, ignored (a type not used), …'),
});

/**
 * Stripe's webhook. The signature covers the exact bytes Stripe sent, so the route reads the raw
 * body. A 2xx tells Stripe to stop; anything else makes it deliver again later, which is what a
 * store outage needs.
 */
export const stripeWebhookRoute = defineRawBodyRoute({
  method: 'post',
  path: '/api/v1/webhooks/stripe',
  operationId: 'stripeWebhook',
  summary: 'Stripe events: paid checkouts grant AI credits, refunds debit them, each exactly once.',
  description:
    'Verified with STRIPE_WEBHOOK_SECRET (Stripe-Signature, 300 s tolerance both ways). Uses checkout.session.completed, checkout.session.async_payment_succeeded and charge.refunded; other types are acknowledged and ignored.',
  tag: 'AI credits',
  auth: 'none',
  headers: z.object({ 'Stripe-Signature': z.string() }),
  rawBody: {
    mediaType: 'application/json',
    schema: z
      .looseObject({ id: z.string(), type: z.string() })
      .describe('A Stripe event, as Stripe signed it.'),
  },
  responses: {
    200: { description: 'Received', schema: receivedView },
    400: { description: 'invalid_signature: nothing was applied', schema: errorResponse },
    503: {
      description: 'billing_not_configured, or the store is unavailable (Stripe retries)',
      schema: errorResponse,
    },
  },
  async handle({ deps, body, headers }) {
    if (!Buffer.isBuffer(body)) {
      throw new ApiError('unsupported_media_type', 'Stripe sends its events as application/json');
    }
    const signature = headers['stripe-signature'];
    const event = verifyStripeEvent(deps, body, typeof signature === 'string' ? signature : undefined);
    const result = await handleStripeEvent(deps, event);
    deps.logger.info(
      { eventId: event.id, type: event.type, organizationId: result.organizationId, outcome: result.outcome },
      'stripe webhook',
    );
    return { body: { received: true as const, eventId: event.id, outcome: result.outcome } };
  },
});
