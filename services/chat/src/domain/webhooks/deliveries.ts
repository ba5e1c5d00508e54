import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import {
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
  type WebhookEventType,
  webhookDeliveryRecord,
  webhookEventTypes,
} from '../../storage/records.ts';
import { createGuardedFetch, type GuardedFetch } from '../outbound/url-guard.ts';
import { endpointSecret, requireEndpoint } from './endpoints.ts';

/**
 * Webhook delivery, at least once, in every instance:
 *
 * 1. The settle and reserve scripts append events to the organization's outbox stream in the step
 *    that decides them. A consumer group (one per service) reads it; an entry is acknowledged once
 *    it has fanned out, and an instance that died before that has its entries claimed by another
 *    (XAUTOCLAIM).
 * 2. Fan-out writes one delivery per subscribed endpoint (a marker per event and endpoint makes a
 *    re-read entry fan out once) and schedules it now in a sorted set scored by its next attempt.
 * 3. Due deliveries are claimed with a lease (`webhook-claim.lua`), sent signed per Standard
 *    Webhooks, and either done or rescheduled with exponential backoff for 24 hours. Everything is in
 *    Redis: a restart between attempts loses nothing.
 */

type WebhookDeps = Pick<
  Deps,
  'redis' | 'scripts' | 'keys' | 'stores' | 'clock' | 'env' | 'secretBox' | 'logger'
>;

const consumerGroup = 'webhook-delivery';
/** Retries stop this long after the event. */
const retryWindowMs = 24 * 3_600_000;
const maxRetryDelayMs = 6 * 3_600_000;
/** Most attempts kept on a delivery record (the first and the latest ones). */
const maxAttemptsKept = 30;
/** Most deliveries listed per endpoint. */
const maxDeliveriesPerEndpoint = 1000;

const outboxData = z.record(z.string(), z.unknown());

/** The body every receiver gets: Standard Webhooks' `{ type, timestamp, data }`. */
export function eventPayload(
  organizationId: string,
  type: WebhookEventType,
  occurredAt: string,
  data: Record<string, unknown>,
): string {
  return JSON.stringify({ type, timestamp: occurredAt, data: { organizationId, ...data } });
}

/** The delay before attempt `attempt + 1` (attempt 1 failed: the base; then doubling, capped). */
export function retryDelayMs(baseMs: number, failedAttempts: number): number {
  return Math.min(maxRetryDelayMs, baseMs * 2 ** Math.max(0, failedAttempts - 1));
}

function retentionSeconds(deps: Pick<Deps, 'env'>): number {
  return deps.env.MCPSTACK_WEBHOOK_RETENTION_DAYS * 86_400;
}

async function saveDelivery(deps: WebhookDeps, organizationId: string, delivery: WebhookDeliveryRecord) {
  const keys = deps.keys.organization(organizationId);
  await deps.redis.set(
    keys.webhookDelivery(delivery.id),
    JSON.stringify(delivery),
    'EX',
    retentionSeconds(deps),
  );
}

async function loadDelivery(
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

type StreamEntry = [id: string, fields: string[]];

function fieldsOf(entry: StreamEntry): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let index = 0; index + 1 < entry[1].length; index += 2) {
    fields[entry[1][index] as string] = entry[1][index + 1] as string;
  }
  return fields;
}

/** Fans one outbox entry out to the endpoints that subscribe to its type. */
async function fanOut(
  deps: WebhookDeps,
  organizationId: string,
  endpoints: readonly WebhookEndpointRecord[],
  entry: StreamEntry,
): Promise<void> {
  const fields = fieldsOf(entry);
  const type = webhookEventTypes.find((known) => known === fields.type);
  if (!type || !fields.id) {
    deps.logger.warn({ organizationId, entry: entry[0] }, 'webhook outbox entry of an unknown shape');
    return;
  }
  let data: Record<string, unknown> = {};
  try {
    data = outboxData.parse(JSON.parse(fields.data ?? '{}'));
  } catch {
    deps.logger.warn({ organizationId, entry: entry[0] }, 'webhook outbox entry with unreadable data');
  }
  const payload = eventPayload(
    organizationId,
    type,
    fields.occurredAt ?? deps.clock.now().toISOString(),
    data,
  );
  const subscribed = endpoints.filter((endpoint) => endpoint.enabled && endpoint.eventTypes.includes(type));
  await Promise.all(
    subscribed.map((endpoint) =>
      createDelivery(deps, organizationId, endpoint.id, { id: fields.id as string, type, payload }),
    ),
  );
}

export interface AttemptResult {
  ok: boolean;
  responseStatus: number | null;
  error: string | null;
  durationMs: number;
}

/** One signed POST of the delivery's payload. */
async function send(
  deps: WebhookDeps,
  fetcher: GuardedFetch,
  endpoint: WebhookEndpointRecord,
  delivery: WebhookDeliveryRecord,
): Promise<AttemptResult> {
  const started = performance.now();
  const timestamp = deps.clock.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const signature = new Webhook(endpointSecret(deps, endpoint)).sign(
      delivery.eventId,
      timestamp,
      delivery.payload,
    );
    const response = await fetcher(endpoint.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.env.MCPSTACK_WEBHOOK_TIMEOUT_MS),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'mcpstack-webhooks/1',
        'webhook-id': delivery.eventId,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body: delivery.payload,
    });
    await response.body?.cancel().catch(() => undefined);
    const ok = response.status >= 200 && response.status < 300;
    return {
      ok,
      responseStatus: response.status,
      error: ok ? null : `The receiver answered ${response.status}`,
      durationMs: elapsed(),
    };
  } catch (error) {
    const reason = error instanceof Error ? error.message || error.name : String(error);
    return { ok: false, responseStatus: null, error: reason.slice(0, 500), durationMs: elapsed() };
  }
}

/** Attempts one claimed delivery and records the attempt, then finishes or reschedules it. */
async function attempt(
  deps: WebhookDeps,
  fetcher: GuardedFetch,
  organizationId: string,
  deliveryId: string,
): Promise<void> {
  const keys = deps.keys.organization(organizationId);
  const delivery = await loadDelivery(deps, organizationId, deliveryId);
  if (delivery?.status !== 'pending') {
    await deps.redis.zrem(keys.webhookSchedule, deliveryId);
    return;
  }
  const endpoint = await deps.stores.webhookEndpoints.get(organizationId, delivery.endpointId);
  const attemptedAt = deps.clock.now().toISOString();
  const result: AttemptResult = !endpoint?.enabled
    ? {
        ok: false,
        responseStatus: null,
        error: endpoint ? 'The endpoint is disabled' : 'The endpoint was deleted',
        durationMs: 0,
      }
    : await send(deps, fetcher, endpoint, delivery);
  const attempts = [
    ...delivery.attempts,
    {
      attemptedAt,
      responseStatus: result.responseStatus,
      durationMs: result.durationMs,
      error: result.error,
    },
  ];
  const kept =
    attempts.length > maxAttemptsKept ? [attempts[0], ...attempts.slice(-(maxAttemptsKept - 1))] : attempts;
  const now = deps.clock.now().getTime();
  const nextAt = now + retryDelayMs(deps.env.MCPSTACK_WEBHOOK_RETRY_BASE_MS, attempts.length);
  const retry = !result.ok && endpoint?.enabled === true && nextAt <= Date.parse(delivery.giveUpAt);
  const next: WebhookDeliveryRecord = {
    ...delivery,
    attempts: kept as WebhookDeliveryRecord['attempts'],
    status: result.ok ? 'succeeded' : retry ? 'pending' : 'failed',
    nextAttemptAt: retry ? new Date(nextAt).toISOString() : null,
  };
  await saveDelivery(deps, organizationId, next);
  if (retry) await deps.redis.zadd(keys.webhookSchedule, nextAt, deliveryId);
  else await deps.redis.zrem(keys.webhookSchedule, deliveryId);
  if (!result.ok) {
    deps.logger.info(
      {
        organizationId,
        deliveryId,
        endpointId: delivery.endpointId,
        attempt: attempts.length,
        reason: result.error,
        retry,
      },
      'webhook attempt failed',
    );
  }
}

export interface WebhookWorker {
  /** One pass over every organization (tests call it to skip the timer). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the delivery worker of this instance: every MCPSTACK_WEBHOOK_POLL_MS it reads each
 * organization's outbox (its new entries, and entries another instance read and never acknowledged
 * for a minute), then attempts the deliveries that are due.
 */
export function startWebhookWorker(deps: WebhookDeps): WebhookWorker {
  const consumer = `instance-${randomBytes(6).toString('hex')}`;
  const fetcher = createGuardedFetch(deps.env.MCPSTACK_ALLOW_PRIVATE_URLS, {
    timeoutMs: deps.env.MCPSTACK_WEBHOOK_TIMEOUT_MS,
  });
  const leaseMs = deps.env.MCPSTACK_WEBHOOK_TIMEOUT_MS + 5000;
  const groupsMade = new Set<string>();
  let running: Promise<void> | null = null;
  let stopped = false;

  async function readOutbox(organizationId: string): Promise<void> {
    const outbox = deps.keys.organization(organizationId).webhookOutbox;
    if (!groupsMade.has(organizationId)) {
      try {
        await deps.redis.xgroup('CREATE', outbox, consumerGroup, '0', 'MKSTREAM');
      } catch (error) {
        if (!String(error).includes('BUSYGROUP')) throw error;
      }
      groupsMade.add(organizationId);
    }
    const claimed = (await deps.redis.xautoclaim(
      outbox,
      consumerGroup,
      consumer,
      leaseMs,
      '0-0',
      'COUNT',
      100,
    )) as [string, StreamEntry[]];
    const read = (await deps.redis.xreadgroup(
      'GROUP',
      consumerGroup,
      consumer,
      'COUNT',
      200,
      'STREAMS',
      outbox,
      '>',
    )) as [string, StreamEntry[]][] | null;
    const entries = [...(claimed[1] ?? []), ...(read?.[0]?.[1] ?? [])].filter(
      (entry): entry is StreamEntry => Array.isArray(entry) && Array.isArray(entry[1]),
    );
    if (entries.length === 0) return;
    const endpoints = await deps.stores.webhookEndpoints.all(organizationId);
    for (const entry of entries) {
      await fanOut(deps, organizationId, endpoints, entry);
      await deps.redis.xack(outbox, consumerGroup, entry[0]);
    }
  }

  async function attemptDue(organizationId: string): Promise<void> {
    const schedule = deps.keys.organization(organizationId).webhookSchedule;
    const due = (await deps.scripts.run(
      'webhookClaim',
      [schedule],
      [deps.clock.now().getTime(), leaseMs, 50],
    )) as string[];
    await Promise.all(due.map((deliveryId) => attempt(deps, fetcher, organizationId, deliveryId)));
  }

  async function pass(): Promise<void> {
    // Redis away: queue nothing behind the answers' own commands; the next pass goes on from Redis.
    if (deps.redis.status !== 'ready') return;
    let organizations: string[];
    try {
      organizations = await deps.redis.smembers(deps.keys.webhookOrganizations);
    } catch (error) {
      // Redis away: the next pass tries again; nothing is lost (the outbox and schedule are there).
      deps.logger.warn({ reason: String(error) }, 'webhook delivery pass could not read Redis');
      return;
    }
    for (const organizationId of organizations) {
      if (stopped) return;
      try {
        await readOutbox(organizationId);
        await attemptDue(organizationId);
      } catch (error) {
        deps.logger.warn({ organizationId, reason: String(error) }, 'webhook delivery pass failed');
      }
    }
  }

  const tick = () => {
    running ??= pass().finally(() => {
      running = null;
    });
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void tick();
  }, deps.env.MCPSTACK_WEBHOOK_POLL_MS);
  timer.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      // A pass waiting on an unreachable Redis must not hold shutdown: its work is redone by the
      // next instance (claims expire, outbox entries are re-claimed).
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        running?.catch(() => undefined),
        new Promise((resolve) => {
          timeout = setTimeout(resolve, 1000);
        }),
      ]);
      clearTimeout(timeout);
    },
  };
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
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
