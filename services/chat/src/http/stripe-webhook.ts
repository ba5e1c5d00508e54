import express, { type Request, type Response, type Router } from 'express';
import type { Deps } from '../deps.ts';
import { handleStripeEvent, verifyStripeEvent } from '../domain/credits/stripe-events.ts';
import { ApiError } from '../errors.ts';
import type { JsonSchema } from './openapi.ts';

export const stripeWebhookPath = '/api/v1/webhooks/stripe';

/**
 * Stripe's webhook. The signature covers the exact bytes Stripe sent, so this router reads the raw
 * body (mounted before every JSON parser). A 2xx tells Stripe to stop; anything else makes it
 * deliver again later, which is what a store outage needs.
 */
export function stripeWebhookRouter(deps: Deps): Router {
  const router = express.Router();
  const raw = express.raw({ type: 'application/json', limit: deps.env.MCPSTACK_MAX_BODY_BYTES });
  router.post(stripeWebhookPath, raw, async (request: Request, response: Response) => {
    if (!Buffer.isBuffer(request.body)) {
      throw new ApiError('unsupported_media_type', 'Stripe sends its events as application/json');
    }
    const event = verifyStripeEvent(deps, request.body, request.get('stripe-signature'));
    const result = await handleStripeEvent(deps, event);
    deps.logger.info(
      { eventId: event.id, type: event.type, organizationId: result.organizationId, outcome: result.outcome },
      'stripe webhook',
    );
    response.status(200).json({ received: true, eventId: event.id, outcome: result.outcome });
  });
  return router;
}

/** The webhook in the OpenAPI document (it sits outside the route table: raw body, no API key). */
export function stripeWebhookOpenApiPaths(): Record<string, Record<string, JsonSchema>> {
  return {
    [stripeWebhookPath]: {
      post: {
        operationId: 'stripeWebhook',
        summary: 'Stripe events: paid checkouts grant AI credits, refunds debit them, each exactly once.',
        description:
          'Verified with STRIPE_WEBHOOK_SECRET (Stripe-Signature, 300 s tolerance both ways). Uses checkout.session.completed, checkout.session.async_payment_succeeded and charge.refunded; other types are acknowledged and ignored.',
        tags: ['AI credits'],
        security: [],
        parameters: [{ name: 'Stripe-Signature', in: 'header', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
        responses: {
          200: { description: 'Received: `{ received, eventId, outcome }`' },
          400: { description: 'invalid_signature: nothing was applied' },
          503: { description: 'billing_not_configured, or the store is unavailable (Stripe retries)' },
        },
      },
    },
  };
}
