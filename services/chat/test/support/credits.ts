import { randomBytes } from 'node:crypto';
import { actingAs, createAgent } from '@mcpstack/test-support/tenants';
import { expect } from 'vitest';
import { type MeterContext, type Reservation, reserve, settle } from '../../src/domain/budgets/meter.ts';
import { ledgerEntryRecord } from '../../src/domain/credits/ledger-entry.ts';
import { ApiError } from '../../src/errors.ts';
import type { CallResult, Tenant, TestService } from './harness.ts';
import { startTestService } from './harness.ts';
import { settledCall } from './llm-calls.ts';
import { type FakeStripe, startFakeStripe } from './stripe-server.ts';

export interface CreditWorld {
  stripe: FakeStripe;
  service: TestService;
  stop(): Promise<void>;
}

/** The service pointed at a fake Stripe through STRIPE_API_BASE; no free credits, so sums are plain. */
export async function startCreditWorld(env: Record<string, string> = {}): Promise<CreditWorld> {
  const stripe = await startFakeStripe();
  const service = await startTestService({
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    STRIPE_API_BASE: stripe.url,
    MCPSTACK_FREE_CREDITS_USD: '0',
    ...env,
  });
  return {
    stripe,
    service,
    async stop() {
      await service.stop();
      await stripe.close();
    },
  };
}

export const creditsPath = (tenant: Tenant, rest: string) =>
  `/api/v1/organizations/${tenant.organizationId}/ai-credits/${rest}`;

/** Posts a raw body to the webhook with the given Stripe-Signature. */
export function postWebhook(
  service: TestService,
  payload: string,
  signature: string | null,
): Promise<CallResult> {
  return service.call('POST', '/api/v1/webhooks/stripe', {
    token: null,
    rawBody: payload,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      ...(signature !== null && { 'stripe-signature': signature }),
    },
  });
}

/** Sends one event the way Stripe does: a fresh signature over the exact body. */
export async function deliver(
  world: CreditWorld,
  type: string,
  object: unknown,
  options: { id?: string; timestamp?: number } = {},
): Promise<CallResult & { eventId: string; payload: string }> {
  const { id, payload } = world.stripe.event(type, object, options);
  const result = await postWebhook(world.service, payload, world.stripe.sign(payload, options));
  return { ...result, eventId: id, payload };
}

/** Starts a checkout through the API (a billing key by default) and returns the session id. */
export async function startCheckout(
  world: CreditWorld,
  tenant: Tenant,
  creditAmountUsd: number,
  token = tenant.keys.billing,
) {
  const response = await world.service.call('POST', creditsPath(tenant, 'checkout-session'), {
    token,
    body: { creditAmountUsd },
  });
  expect(response.status, response.text).toBe(201);
  return response.body.id as string;
}

/** Balance in micro-USD, read straight from Redis. */
export async function balanceMicros(service: TestService, tenant: Tenant): Promise<number> {
  const keys = service.deps.keys.organization(tenant.organizationId);
  return Number((await service.deps.redis.hget(keys.credits, 'balance')) ?? 0);
}

/** Every ledger entry, from PostgreSQL once the outbox is drained, oldest first. */
export async function ledgerEntries(service: TestService, tenant: Tenant) {
  await service.drain();
  const page = await service.deps.history.listLedger(
    tenant.organizationId,
    { types: null },
    { limit: 100_000 },
  );
  return page.data.map((entry) => ledgerEntryRecord.parse(entry)).reverse();
}

/**
 * The invariant after every scenario: balance = sum of the ledger entries (checked here, from
 * PostgreSQL once drained) and the reconcile endpoint agrees (no differences).
 */
export async function expectConsistent(service: TestService, tenant: Tenant): Promise<number> {
  const entries = await ledgerEntries(service, tenant);
  const sum = entries.reduce((total, entry) => total + entry.amountMicros, 0);
  const balance = await balanceMicros(service, tenant);
  expect(balance, 'balance = sum of the ledger entries').toBe(sum);
  const report = await service.call('POST', creditsPath(tenant, 'reconcile'), { token: tenant.keys.admin });
  expect(report.status, report.text).toBe(200);
  expect(report.body.differences, JSON.stringify(report.body.differences)).toEqual([]);
  expect(report.body.ok).toBe(true);
  expect(report.body.balanceUsd).toBe(balance / 1e6);
  return balance;
}

/** An agent of the tenant, for usage debits. */
export function createMeteredAgent(service: TestService, tenant: Tenant): Promise<string> {
  return createAgent(service.call, actingAs(tenant, 'admin'), { name: 'Metered', model: 'gpt-4.1-mini' });
}

/**
 * One LLM call's usage through the real metering path (reserve, then settle: the settle script
 * writes the usage debit with the spend counters). Resolves false when the reservation is refused
 * (not enough credits), as a chat turn would be.
 */
export async function spend(
  service: TestService,
  tenant: Tenant,
  agentId: string,
  costMicros: number,
  options: { at?: Date } = {},
): Promise<boolean> {
  const model = service.deps.modelCatalog.get('gpt-4.1-mini');
  if (!model) throw new Error('no model');
  const context: MeterContext = {
    organizationId: tenant.organizationId,
    agentId,
    conversationId: `conv-${randomBytes(6).toString('hex')}`,
    owner: { kind: 'visitor', id: `visitor-${randomBytes(4).toString('hex')}` },
    model,
    resetDayOfMonthUtc: 1,
  };
  let reservation: Reservation;
  try {
    reservation = await reserve(service.deps, context, costMicros);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'budget_exceeded') return false;
    throw error;
  }
  await settle(service.deps, context, reservation, settledCall(context, costMicros, options.at));
  return true;
}
