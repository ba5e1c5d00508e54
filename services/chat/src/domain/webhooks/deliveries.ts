import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import {
  type WebhookDeliveryRecord,
  type WebhookEventType,
  webhookDeliveryRecord,
} from '../../storage/records.ts';
import { requireEndpoint } from './endpoints.ts';

/**
 * The deliveries of webhook events, one per event and endpoint, kept in Redis for the retention
 * period: created by the fan-out (delivery-worker.ts) or the test call, listed and redelivered by
 * the API. Delivering them is delivery-attempt.ts's part.
 */

export type WebhookDeps = Pick<
  Deps,
  'redis' | 'scripts' | 'keys' | 'stores' | 'clock' | 'env' | 'secretBox' | 'logger'
>;

/** Retries stop this long after the event. */
const retryWindowMs = 24 * 3_600_000;
/** Most deliveries listed per endpoint. */
const maxDeliveriesPerEndpoint = 1000;

/** The body every receiver gets: Standard Webhooks' `{ type, timestamp, data }`. */
export function eventPayload(
  organizationId: string,
  type: WebhookEventType,
  occurredAt: string,
  data: Record<string, unknown>,
): string {
  return JSON.stringify({ type, timestamp: occurredAt, data: { organizationId, ...data } });
}

function retentionSeconds(deps: Pick<Deps, 'env'>): number {
  return deps.env.MCPSTACK_WEBHOOK_RETENTION_DAYS * 86_400;
}

export async function saveDelivery(
  deps: WebhookDeps,
  organizationId: string,
  delivery: WebhookDeliveryRecord,
) {
  const keys = deps.keys.organization(organizationId);
  await deps.redis.set(
    keys.webhookDelivery(delivery.id),
    JSON.stringify(delivery),
    'EX',
    retentionSeconds(deps),
  );
}

export async function loadDelivery(
  deps: WebhookDeps,
  organizationId: string,
  deliveryId: string,
): Promise<WebhookDeliveryRecord | null> {
  const raw = await deps.redis.get(deps.keys.organization(organizationId).webhookDelivery(deliveryId));
  return raw === null ? null : webhookDeliveryRecord.parse(JSON.parse(raw));
}

/** Creates the delivery of an event to an endpoint once (a second call for the same pair is a no-op). */
export async function createDelivery(
  deps: WebhookDeps,
  organizationId: string,
  endpointId: string,
  event: { id: string; type: WebhookEventType; payload: string },
): Promise<WebhookDeliveryRecord | null> {
  const keys = deps.keys.organization(organizationId);
  const id = newId('webhookDelivery');
  const fresh = await deps.redis.set(
    keys.webhookFanout(event.id, endpointId),
    id,
    'EX',
    retentionSeconds(deps),
    'NX',
  );
  if (fresh !== 'OK') return null;
  const now = deps.clock.now();
  const delivery: WebhookDeliveryRecord = {
    id,
    endpointId,
    eventId: event.id,
    eventType: event.type,
    payload: event.payload,
    status: 'pending',
    attempts: [],
    nextAttemptAt: now.toISOString(),
    createdAt: now.toISOString(),
    giveUpAt: new Date(now.getTime() + retryWindowMs).toISOString(),
  };
  const listed = keys.webhookEndpointDeliveries(endpointId);
  await deps.redis
    .multi()
    .set(keys.webhookDelivery(id), JSON.stringify(delivery), 'EX', retentionSeconds(deps))
    .zadd(listed, now.getTime(), id)
    .zremrangebyrank(listed, 0, -(maxDeliveriesPerEndpoint + 1))
    .expire(listed, retentionSeconds(deps))
    .zadd(keys.webhookSchedule, now.getTime(), id)
    .exec();
  return delivery;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: WebhookEventType;
  status: WebhookDeliveryRecord['status'];
  payload: unknown;
  attempts: WebhookDeliveryRecord['attempts'];
  nextAttemptAt: string | null;
  createdAt: string;
  giveUpAt: string;
}

const toDeliveryView = (delivery: WebhookDeliveryRecord): DeliveryView => ({
  ...delivery,
  payload: JSON.parse(delivery.payload) as unknown,
});

/** An endpoint's deliveries, newest first; `cursor` is the last id of the previous page. */
export async function listDeliveries(
  deps: WebhookDeps,
  organizationId: string,
  endpointId: string,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ data: DeliveryView[]; nextCursor: string | null }> {
  await requireEndpoint(deps, organizationId, endpointId);
  const keys = deps.keys.organization(organizationId);
  const listed = keys.webhookEndpointDeliveries(endpointId);
  let ids = await deps.redis.zrevrange(listed, 0, maxDeliveriesPerEndpoint);
  if (page.cursor) {
    const at = ids.indexOf(page.cursor);
    ids = at === -1 ? [] : ids.slice(at + 1);
  }
  const pageIds = ids.slice(0, page.limit);
  const raw =
    pageIds.length === 0 ? [] : await deps.redis.mget(...pageIds.map((id) => keys.webhookDelivery(id)));
  const data = raw
    .filter((value): value is string => value !== null)
    .map((value) => toDeliveryView(webhookDeliveryRecord.parse(JSON.parse(value))));
  return { data, nextCursor: ids.length > page.limit ? (pageIds.at(-1) ?? null) : null };
}

/** Schedules a delivery again now (pending, its attempts kept), whatever its status. */
export async function redeliver(
  deps: WebhookDeps,
  organizationId: string,
  endpointId: string,
  deliveryId: string,
): Promise<DeliveryView> {
  await requireEndpoint(deps, organizationId, endpointId);
  const delivery = await loadDelivery(deps, organizationId, deliveryId);
  if (!delivery || delivery.endpointId !== endpointId) {
    throw new ApiError('webhook_delivery_not_found', `No delivery ${deliveryId} of this endpoint`);
  }
  const now = deps.clock.now();
  const next: WebhookDeliveryRecord = {
    ...delivery,
    status: 'pending',
    nextAttemptAt: now.toISOString(),
    giveUpAt: new Date(now.getTime() + retryWindowMs).toISOString(),
  };
  await saveDelivery(deps, organizationId, next);
  await deps.redis.zadd(deps.keys.organization(organizationId).webhookSchedule, now.getTime(), deliveryId);
  return toDeliveryView(next);
}

/** Sends a `webhook.test` event to one endpoint (whatever it subscribes to), through the same queue. */
export async function sendTestEvent(
  deps: WebhookDeps,
  organizationId: string,
  endpointId: string,
): Promise<DeliveryView> {
  await requireEndpoint(deps, organizationId, endpointId);
  const eventId = newId('webhookEvent');
  const payload = eventPayload(organizationId, 'webhook.test', deps.clock.now().toISOString(), {
    message: 'A test event from MCP Stack.',
  });
  const delivery = await createDelivery(deps, organizationId, endpointId, {
    id: eventId,
    type: 'webhook.test',
    payload,
  });
  if (!delivery) throw new Error('A fresh event id fanned out twice');
  return toDeliveryView(delivery);
}
