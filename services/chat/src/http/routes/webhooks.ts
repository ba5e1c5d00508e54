import { z } from 'zod';
import { listDeliveries, redeliver, sendTestEvent } from '../../domain/webhooks/deliveries.ts';
import {
  createWebhookEndpoint,
  createWebhookEndpointInput,
  deleteWebhookEndpoint,
  listWebhookEndpoints,
  requireEndpoint,
  rotateWebhookSecret,
  toEndpointView,
  updateWebhookEndpoint,
  updateWebhookEndpointInput,
} from '../../domain/webhooks/endpoints.ts';
import { webhookDeliveryRecord, webhookEndpointRecord } from '../../storage/records.ts';
import { adminRoutes, type RouteDefinition } from '../route.ts';
import { errorResponse, idParam, orgParams, page, pageQuery, standardErrors } from '../schemas.ts';

/** The stored endpoint without its sealed secret. */
export const webhookEndpointView = webhookEndpointRecord.omit({ sealedSecret: true });
const endpointWithSecret = webhookEndpointView.extend({
  secret: z
    .string()
    .describe('The Standard Webhooks signing secret (`whsec_…`); shown only now, stored encrypted.'),
});
/** The stored delivery, its payload parsed back from the exact bytes sent. */
const deliveryView = webhookDeliveryRecord.extend({
  eventId: z.string().describe('The `webhook-id` header: the same on every attempt (deduplicate on it).'),
  payload: z.unknown().describe('The signed body: `{ type, timestamp, data }`.'),
  giveUpAt: z.string().describe('Retries (exponential backoff) stop after this: 24 hours.'),
});

const endpointParams = orgParams.extend({ endpointId: idParam });
const deliveryParams = endpointParams.extend({ deliveryId: idParam });
const writeErrors = {
  ...standardErrors,
  400: { description: 'Invalid input, invalid_url or private_url_not_allowed', schema: errorResponse },
};
const tag = 'Webhooks';
const base = '/api/v1/organizations/{orgId}/webhook-endpoints';

const webhookRoute = adminRoutes(tag);

export const webhookRoutes: RouteDefinition[] = [
  webhookRoute({
    method: 'get',
    path: base,
    operationId: 'listWebhookEndpoints',
    summary: 'List webhook endpoints.',
    permission: 'organization:read',
    params: orgParams,
    query: pageQuery,
    responses: { 200: { description: 'A page of endpoints', schema: page(webhookEndpointView) } },
    async handle({ deps, params, query }) {
      return { body: await listWebhookEndpoints(deps, params.orgId, query) };
    },
  }),
  webhookRoute({
    method: 'post',
    path: base,
    operationId: 'createWebhookEndpoint',
    summary: 'Register a webhook endpoint; the answer carries its signing secret, once.',
    description:
      'Events are POSTed as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature` v1 HMAC-SHA256), at least once, retried with exponential backoff for 24 hours.',
    permission: 'organization:manage',
    params: orgParams,
    body: createWebhookEndpointInput,
    responses: { 201: { description: 'Registered', schema: endpointWithSecret }, ...writeErrors },
    async handle({ deps, params, body }) {
      return { status: 201, body: await createWebhookEndpoint(deps, params.orgId, body) };
    },
  }),
  webhookRoute({
    method: 'get',
    path: `${base}/{endpointId}`,
    operationId: 'getWebhookEndpoint',
    summary: 'Get a webhook endpoint (never its secret).',
    permission: 'organization:read',
    params: endpointParams,
    responses: { 200: { description: 'The endpoint', schema: webhookEndpointView } },
    async handle({ deps, params }) {
      return { body: toEndpointView(await requireEndpoint(deps, params.orgId, params.endpointId)) };
    },
  }),
  webhookRoute({
    method: 'patch',
    path: `${base}/{endpointId}`,
    operationId: 'updateWebhookEndpoint',
    summary: 'Update a webhook endpoint: url, description, eventTypes, enabled.',
    permission: 'organization:manage',
    params: endpointParams,
    body: updateWebhookEndpointInput,
    responses: { 200: { description: 'The endpoint', schema: webhookEndpointView }, ...writeErrors },
    async handle({ deps, params, body }) {
      return { body: await updateWebhookEndpoint(deps, params.orgId, params.endpointId, body) };
    },
  }),
  webhookRoute({
    method: 'delete',
    path: `${base}/{endpointId}`,
    operationId: 'deleteWebhookEndpoint',
    summary: 'Delete a webhook endpoint; its pending deliveries fail.',
    permission: 'organization:manage',
    params: endpointParams,
    responses: { 204: { description: 'Deleted' } },
    async handle({ deps, params }) {
      await deleteWebhookEndpoint(deps, params.orgId, params.endpointId);
      return { status: 204 };
    },
  }),
  webhookRoute({
    method: 'post',
    path: `${base}/{endpointId}/rotate-secret`,
    operationId: 'rotateWebhookSecret',
    summary: 'Replace the signing secret; deliveries from now on are signed with the new one only.',
    permission: 'organization:manage',
    params: endpointParams,
    responses: { 200: { description: 'The endpoint and its new secret', schema: endpointWithSecret } },
    async handle({ deps, params }) {
      return { body: await rotateWebhookSecret(deps, params.orgId, params.endpointId) };
    },
  }),
  webhookRoute({
    method: 'post',
    path: `${base}/{endpointId}/test`,
    operationId: 'testWebhookEndpoint',
    summary: 'Send a `webhook.test` event to this endpoint through the delivery queue.',
    permission: 'organization:manage',
    params: endpointParams,
    responses: { 202: { description: 'The delivery, pending', schema: deliveryView } },
    async handle({ deps, params }) {
      return { status: 202, body: await sendTestEvent(deps, params.orgId, params.endpointId) };
    },
  }),
  webhookRoute({
    method: 'get',
    path: `${base}/{endpointId}/deliveries`,
    operationId: 'listWebhookDeliveries',
    summary:
      'The endpoint’s deliveries (newest first, last 1000, kept MCPSTACK_WEBHOOK_RETENTION_DAYS), with their attempts.',
    permission: 'organization:read',
    params: endpointParams,
    query: pageQuery,
    responses: { 200: { description: 'A page of deliveries', schema: page(deliveryView) } },
    async handle({ deps, params, query }) {
      return { body: await listDeliveries(deps, params.orgId, params.endpointId, query) };
    },
  }),
  webhookRoute({
    method: 'post',
    path: `${base}/{endpointId}/deliveries/{deliveryId}/redeliver`,
    operationId: 'redeliverWebhook',
    summary: 'Send a delivery again now (its attempts are kept; a new 24-hour retry window starts).',
    permission: 'organization:manage',
    params: deliveryParams,
    responses: { 202: { description: 'The delivery, pending', schema: deliveryView } },
    async handle({ deps, params }) {
      return { status: 202, body: await redeliver(deps, params.orgId, params.endpointId, params.deliveryId) };
    },
  }),
];
