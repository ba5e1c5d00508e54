import { Webhook } from 'standardwebhooks';
import type { WebhookDeliveryRecord, WebhookEndpointRecord } from '../../storage/records.ts';
import type { GuardedFetch } from '../outbound/url-guard.ts';
import { loadDelivery, saveDelivery, type WebhookDeps } from './deliveries.ts';
import { endpointSecret } from './endpoints.ts';

/**
 * One attempt at a claimed delivery: a POST signed per Standard Webhooks, recorded on the delivery,
 * which is then done, or rescheduled with exponential backoff until its give-up time.
 */

const maxRetryDelayMs = 6 * 3_600_000;
/** Most attempts kept on a delivery record (the first and the latest ones). */
const maxAttemptsKept = 30;

/** The delay before attempt `attempt + 1` (attempt 1 failed: the base; then doubling, capped). */
export function retryDelayMs(baseMs: number, failedAttempts: number): number {
  return Math.min(maxRetryDelayMs, baseMs * 2 ** Math.max(0, failedAttempts - 1));
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
export async function attemptDelivery(
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
