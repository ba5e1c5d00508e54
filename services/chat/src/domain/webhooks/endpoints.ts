import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Page, PageRequest } from '../../storage/collection.ts';
import {
  type WebhookEndpointRecord,
  type WebhookEventType,
  webhookEventTypes,
} from '../../storage/records.ts';
import { checkedPublicUrl } from '../outbound/url-guard.ts';

/**
 * The organization's webhook endpoints: a URL (checked by the same SSRF guard as MCP servers, at
 * registration and again by the socket of every delivery), the event types it subscribes to, and a
 * Standard Webhooks signing secret (`whsec_` + base64 of 24 random bytes), sealed at rest and shown
 * only when created or rotated.
 */

type EndpointDeps = Pick<Deps, 'stores' | 'clock' | 'env' | 'secretBox' | 'redis' | 'keys' | 'logger'>;
type StoreDeps = Pick<Deps, 'stores'>;

/** Event types an endpoint may subscribe to (`webhook.test` is sent only by the test call). */
export const subscribableEventTypes = webhookEventTypes.filter((type) => type !== 'webhook.test');

const eventTypesInput = z
  .array(z.enum(subscribableEventTypes as [string, ...string[]]))
  .min(1)
  .max(subscribableEventTypes.length)
  .describe(`The events this endpoint receives: ${subscribableEventTypes.join(', ')}.`);

const endpointFields = {
  url: z
    .string()
    .describe(
      'Where events are POSTed, http(s). Must resolve to a public address unless MCPSTACK_ALLOW_PRIVATE_URLS=true.',
    ),
  description: z.string().max(500).nullable(),
  eventTypes: eventTypesInput,
  enabled: z.boolean().describe('A disabled endpoint receives nothing new; its pending retries stop.'),
};

export const createWebhookEndpointInput = z
  .object({
    ...endpointFields,
    description: endpointFields.description.optional(),
    eventTypes: eventTypesInput.optional(),
    enabled: endpointFields.enabled.optional(),
  })
  .strict();
export const updateWebhookEndpointInput = z.object(endpointFields).partial().strict();

export type CreateWebhookEndpointInput = z.infer<typeof createWebhookEndpointInput>;
export type UpdateWebhookEndpointInput = z.infer<typeof updateWebhookEndpointInput>;

export interface WebhookEndpointView {
  id: string;
  organizationId: string;
  url: string;
  description: string | null;
  eventTypes: WebhookEventType[];
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export const toEndpointView = (record: WebhookEndpointRecord): WebhookEndpointView => ({
  id: record.id,
  organizationId: record.organizationId,
  url: record.url,
  description: record.description,
  eventTypes: record.eventTypes,
  enabled: record.enabled,
  createdAt: record.createdAt,
  updatedAt: record.updatedAt,
});

export const newSigningSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

const endpointNotFound = (endpointId: string) =>
  new ApiError('webhook_endpoint_not_found', `No webhook endpoint ${endpointId} in this organization`);

export async function requireEndpoint(deps: StoreDeps, organizationId: string, endpointId: string) {
  const endpoint = await deps.stores.webhookEndpoints.get(organizationId, endpointId);
  if (!endpoint) throw endpointNotFound(endpointId);
  return endpoint;
}

/** The endpoint's signing secret, opened. */
export function endpointSecret(deps: Pick<Deps, 'secretBox'>, endpoint: WebhookEndpointRecord): string {
  return deps.secretBox.open(endpoint.sealedSecret, endpoint.id);
}

export async function createWebhookEndpoint(
  deps: EndpointDeps,
  organizationId: string,
  input: CreateWebhookEndpointInput,
): Promise<WebhookEndpointView & { secret: string }> {
  const url = await checkedPublicUrl(input.url, deps.env.MCPSTACK_ALLOW_PRIVATE_URLS);
  const id = newId('webhookEndpoint');
  const secret = newSigningSecret();
  const now = deps.clock.now().toISOString();
  const record: WebhookEndpointRecord = {
    id,
    organizationId,
    url,
    description: input.description ?? null,
    eventTypes: (input.eventTypes ?? subscribableEventTypes) as WebhookEndpointRecord['eventTypes'],
    enabled: input.enabled ?? true,
    sealedSecret: deps.secretBox.seal(secret, id),
    createdAt: now,
    updatedAt: now,
  };
  await deps.stores.webhookEndpoints.create(organizationId, record);
  // The delivery worker polls the organizations that have endpoints.
  await deps.redis.sadd(deps.keys.webhookOrganizations, organizationId);
  deps.logger.info({ organizationId, webhookEndpointId: id }, 'webhook endpoint created');
  return { ...toEndpointView(record), secret };
}

export async function listWebhookEndpoints(
  deps: EndpointDeps,
  organizationId: string,
  page: PageRequest,
): Promise<Page<WebhookEndpointView>> {
  const endpoints = await deps.stores.webhookEndpoints.list(organizationId, page);
  return { data: endpoints.data.map(toEndpointView), nextCursor: endpoints.nextCursor };
}

export async function updateWebhookEndpoint(
  deps: EndpointDeps,
  organizationId: string,
  endpointId: string,
  input: UpdateWebhookEndpointInput,
): Promise<WebhookEndpointView> {
  await requireEndpoint(deps, organizationId, endpointId);
  const url =
    input.url === undefined
      ? undefined
      : await checkedPublicUrl(input.url, deps.env.MCPSTACK_ALLOW_PRIVATE_URLS);
  const result = await deps.stores.webhookEndpoints.update(organizationId, endpointId, (endpoint) => ({
    ...endpoint,
    ...(url !== undefined && { url }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.eventTypes !== undefined && {
      eventTypes: input.eventTypes as WebhookEndpointRecord['eventTypes'],
    }),
    ...(input.enabled !== undefined && { enabled: input.enabled }),
    updatedAt: deps.clock.now().toISOString(),
  }));
  if (result.status !== 'updated') throw endpointNotFound(endpointId);
  return toEndpointView(result.value);
}

export async function deleteWebhookEndpoint(
  deps: EndpointDeps,
  organizationId: string,
  endpointId: string,
): Promise<void> {
  const removed = await deps.stores.webhookEndpoints.remove(organizationId, endpointId);
  if (!removed) throw endpointNotFound(endpointId);
  deps.logger.info({ organizationId, webhookEndpointId: endpointId }, 'webhook endpoint deleted');
}

/** A new secret at once: deliveries from now on are signed with it only. */
export async function rotateWebhookSecret(
  deps: EndpointDeps,
  organizationId: string,
  endpointId: string,
): Promise<WebhookEndpointView & { secret: string }> {
  await requireEndpoint(deps, organizationId, endpointId);
  const secret = newSigningSecret();
  const result = await deps.stores.webhookEndpoints.update(organizationId, endpointId, (endpoint) => ({
    ...endpoint,
    sealedSecret: deps.secretBox.seal(secret, endpoint.id),
    updatedAt: deps.clock.now().toISOString(),
  }));
  if (result.status !== 'updated') throw endpointNotFound(endpointId);
  deps.logger.info({ organizationId, webhookEndpointId: endpointId }, 'webhook secret rotated');
  return { ...toEndpointView(result.value), secret };
}
