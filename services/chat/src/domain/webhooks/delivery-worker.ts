import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type WebhookEndpointRecord, webhookEventTypes } from '../../storage/records.ts';
import { createGuardedFetch } from '../outbound/url-guard.ts';
import { createDelivery, eventPayload, type WebhookDeps } from './deliveries.ts';
import { attemptDelivery } from './delivery-attempt.ts';

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

const consumerGroup = 'webhook-delivery';

const outboxData = z.record(z.string(), z.unknown());

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
    const due = await deps.scripts.webhookClaim(
      { schedule },
      { nowMs: deps.clock.now().getTime(), leaseMs, most: 50 },
    );
    await Promise.all(due.map((deliveryId) => attemptDelivery(deps, fetcher, organizationId, deliveryId)));
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
