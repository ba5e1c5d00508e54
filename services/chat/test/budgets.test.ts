import { randomBytes } from 'node:crypto';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { actingAs, createAgent, createChatAgent, createEmbedKey } from '@mcpstack/test-support/tenants';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerMeter } from '../src/domain/budgets/answer-meter.ts';
import { chargeExpiredHolds } from '../src/domain/budgets/expired-holds.ts';
import {
  costBoundMicros,
  type MeterContext,
  type Reservation,
  reserve,
  reserveAhead,
  settle,
} from '../src/domain/budgets/meter.ts';
import { budgetPeriod } from '../src/domain/budgets/periods.ts';
import { ApiError } from '../src/errors.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';
import { settledCall } from './support/llm-calls.ts';

const origin = 'https://shop.example';
let model: LocalModel;
let service: TestService;

beforeAll(async () => {
  model = await startLocalModel();
  service = await startTestService({ OPENAI_BASE_URL: model.url, MCPSTACK_FREE_CREDITS_USD: '10' });
});
afterAll(async () => {
  await service?.stop();
  await model?.close();
});

const agentOf = (tenant: Tenant, body: Record<string, unknown> = {}) =>
  createAgent(service.call, actingAs(tenant, 'admin'), { name: 'Budgeted', model: 'gpt-4.1-mini', ...body });

const budgetPath = (tenant: Tenant, agentId: string) =>
  `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/budget`;

async function setBudget(tenant: Tenant, agentId: string, body: Record<string, unknown>) {
  const response = await service.call('PATCH', budgetPath(tenant, agentId), {
    token: tenant.keys.developer,
    body,
  });
  expect(response.status, response.text).toBe(200);
  return response.body;
}

function contextOf(
  tenant: Tenant,
  agentId: string,
  owner: MeterContext['owner'] = { kind: 'visitor', id: 'visitor-1234' },
): MeterContext {
  const catalogModel = service.deps.modelCatalog.get('gpt-4.1-mini');
  if (!catalogModel) throw new Error('no model');
  return {
    organizationId: tenant.organizationId,
    agentId,
    conversationId: `conv-${randomBytes(6).toString('hex')}`,
    owner,
    model: catalogModel,
    resetDayOfMonthUtc: 1,
  };
}

async function denial(promise: Promise<unknown>) {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('budget settings', () => {
  it('shows the reference fields and validates the policy', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    const initial = await service.call('GET', budgetPath(tenant, agentId), { token: tenant.keys.viewer });
    expect(initial.body).toMatchObject({
      enabled: false,
      monthlyBudgetUsd: null,
      currency: 'USD',
      resetDayOfMonthUtc: 1,
    });

    const missing = await service.call('PATCH', budgetPath(tenant, agentId), {
      token: tenant.keys.developer,
      body: { enabled: true },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain('monthlyBudgetUsd');
    for (const bad of [
      { monthlyBudgetUsd: -1 },
      { monthlyBudgetUsd: 0.0000001 },
      { resetDayOfMonthUtc: 29 },
      { currency: 'EUR' },
      { surprise: true },
    ]) {
      const response = await service.call('PATCH', budgetPath(tenant, agentId), {
        token: tenant.keys.developer,
        body: bad,
      });
      expect(response.status, JSON.stringify(bad)).toBe(400);
    }
    const viewer = await service.call('PATCH', budgetPath(tenant, agentId), {
      token: tenant.keys.viewer,
      body: { enabled: false },
    });
    expect(viewer.status).toBe(403);

    const set = await setBudget(tenant, agentId, {
      enabled: true,
      monthlyBudgetUsd: 10000,
      defaultUserBudgetUsd: 5,
      resetDayOfMonthUtc: 15,
    });
    expect(set).toMatchObject({
      enabled: true,
      monthlyBudgetUsd: 10000,
      defaultUserBudgetUsd: 5,
      defaultUserMonthlyBudgetUsd: 5,
      anonymousMonthlyBudgetUsd: null,
      allocationMode: 'shared',
      resetDayOfMonthUtc: 15,
      currentMonthSpendUsd: 0,
      remainingBudgetUsd: 10000,
      trackedUserCount: 0,
      assignedUserCount: 0,
      assignedBudgetUsd: 0,
    });
    expect(new Date(set.resetsAt).getUTCDate()).toBe(15);
  });

  it('sets, shows and removes one user override', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 100, defaultUserBudgetUsd: 5 });
    const userPath = `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/external-users/user-42/budget`;
    const before = await service.call('GET', userPath, { token: tenant.keys.viewer });
    expect(before.body).toMatchObject({ source: 'default', monthlyBudgetUsd: 5, remainingBudgetUsd: 5 });
    const put = await service.call('PUT', userPath, {
      token: tenant.keys.developer,
      body: { monthlyBudgetUsd: 20 },
    });
    expect(put.body).toMatchObject({ source: 'override', monthlyBudgetUsd: 20 });
    const budget = await service.call('GET', budgetPath(tenant, agentId), { token: tenant.keys.viewer });
    expect(budget.body).toMatchObject({ assignedUserCount: 1, assignedBudgetUsd: 20 });
    expect((await service.call('DELETE', userPath, { token: tenant.keys.developer })).status).toBe(204);
    expect((await service.call('DELETE', userPath, { token: tenant.keys.developer })).status).toBe(404);
    const after = await service.call('GET', userPath, { token: tenant.keys.viewer });
    expect(after.body.source).toBe('default');
  });
});

describe('reserve and settle (the Lua scripts)', () => {
  it('refuses the agent cap at its exact boundary, and counts settled spend', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 0.001 }); // 1000 micro-USD
    const context = contextOf(tenant, agentId);
    const held = await reserve(service.deps, context, 600);
    // Only answers in progress stand in the way: "busy, retry", not "the month is over".
    const busy = await denial(reserve(service.deps, context, 401));
    expect(busy).toMatchObject({ status: 429, code: 'budget_busy', details: { scope: 'agent' } });
    const exact = await reserve(service.deps, context, 400);
    await settle(service.deps, context, held, settledCall(context, 250));
    await settle(service.deps, context, exact, settledCall(context, 400));
    // 650 spent, nothing held: 350 left, not a micro more.
    await reserve(service.deps, context, 350).then((reservation) =>
      settle(service.deps, context, reservation, settledCall(context, 350)),
    );
    const spent = await denial(reserve(service.deps, context, 1));
    expect(spent.status).toBe(402);
    expect(spent.details).toMatchObject({ scope: 'agent', capUsd: 0.001, usedUsd: 0.001 });
    expect(spent.details?.resetsAt).toBe(budgetPeriod(new Date(), 1).end.toISOString());
    const view = await service.call('GET', budgetPath(tenant, agentId), { token: tenant.keys.viewer });
    expect(view.body).toMatchObject({ currentMonthSpendUsd: 0.001, remainingBudgetUsd: 0 });
  });

  it('takes a hold ahead only on the reset day the settings have, and refuses it without firing alerts', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 0.001, resetDayOfMonthUtc: 1 });
    const keys = service.deps.keys.organization(tenant.organizationId);
    const reserved = async () =>
      Number(await service.deps.redis.hget(keys.budgetReserved, `agent:${agentId}`));
    const markers = keys.agentAlertMarkers(agentId, budgetPeriod(new Date(), 1).id);
    // Assuming another reset day would hold against another period's counters: nothing is held.
    const stale = await reserveAhead(
      service.deps,
      { ...contextOf(tenant, agentId), resetDayOfMonthUtc: 15 },
      600,
    );
    expect(stale).toBeNull();
    expect(await reserved()).toBe(0);

    const context = contextOf(tenant, agentId);
    const held = await reserveAhead(service.deps, context, 600);
    expect(held?.amountMicros).toBe(600);
    expect(await reserved()).toBe(600);
    await settle(service.deps, context, held, settledCall(context, 600));
    const fired = await service.deps.redis.hlen(markers); // 50 % of the cap is spent
    // 400 left: a forecast of 500 is refused without a threshold alert (it may be larger than the call)…
    expect((await denial(reserveAhead(service.deps, context, 500))).status).toBe(402);
    expect(await service.deps.redis.hlen(markers)).toBe(fired);
    // …the exact hold's refusal fires the thresholds left (80 %, 100 %).
    expect((await denial(reserve(service.deps, context, 500))).status).toBe(402);
    expect(await service.deps.redis.hlen(markers)).toBe(fired + 2);
  });

  it('tops a forecast hold up to the exact bound in one hold, and keeps it when it covers the bound', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 1 });
    const context = contextOf(tenant, agentId);
    const keys = service.deps.keys.organization(tenant.organizationId);
    const reserved = async () =>
      Number(await service.deps.redis.hget(keys.budgetReserved, `agent:${agentId}`));
    const meter = new AnswerMeter(service.deps, context);
    expect(await meter.holdAhead(1000, 100)).toBe(true);
    expect(await reserved()).toBe(costBoundMicros(context.model, 1000, 100));
    // The exact request is smaller: the hold covers it and stays as it is.
    expect(await meter.hold(800, 100)).toEqual({
      ok: true,
      amountMicros: costBoundMicros(context.model, 1000, 100),
    });
    // Larger: the forecast hold is given back and the exact bound held, never both.
    const exact = costBoundMicros(context.model, 50_000, 100);
    expect(await meter.hold(50_000, 100)).toEqual({ ok: true, amountMicros: exact });
    expect(await reserved()).toBe(exact);
    expect(await service.deps.redis.hlen(keys.budgetReservationData)).toBe(1);
    await meter.release();
    expect(await reserved()).toBe(0);
  });

  it('applies the per-user default, and an override beats it', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 1, defaultUserBudgetUsd: 0.0001 });
    const alice = contextOf(tenant, agentId, { kind: 'user', id: 'alice' });
    const bob = contextOf(tenant, agentId, { kind: 'user', id: 'bob' });
    await settle(service.deps, alice, await reserve(service.deps, alice, 100), settledCall(alice, 100));
    expect((await denial(reserve(service.deps, alice, 1))).details).toMatchObject({
      scope: 'user',
      capUsd: 0.0001,
    });
    await service.call(
      'PUT',
      `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/external-users/bob/budget`,
      { token: tenant.keys.admin, body: { monthlyBudgetUsd: 0.0005 } },
    );
    await settle(service.deps, bob, await reserve(service.deps, bob, 500), settledCall(bob, 500));
    expect((await denial(reserve(service.deps, bob, 1))).details?.scope).toBe('user');
  });

  it('shares one anonymous pool between all anonymous visitors', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, {
      enabled: true,
      monthlyBudgetUsd: 1,
      anonymousMonthlyBudgetUsd: 0.0003,
    });
    await reserve(service.deps, contextOf(tenant, agentId, { kind: 'visitor', id: 'visitor-aaaa' }), 200);
    const other = contextOf(tenant, agentId, { kind: 'visitor', id: 'visitor-bbbb' });
    expect((await denial(reserve(service.deps, other, 101))).details?.scope).toBe('anonymous');
    await reserve(service.deps, other, 100);
    // An identified user does not draw from the anonymous pool.
    await reserve(service.deps, contextOf(tenant, agentId, { kind: 'user', id: 'carol' }), 1000);
  });

  it('stops at zero credits even with budgets off, and a debit is written to the ledger', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    const context = contextOf(tenant, agentId);
    // 10 USD of free credits: one reservation of all of it passes, the next micro does not.
    const all = await reserve(service.deps, context, 10_000_000);
    expect((await denial(reserve(service.deps, context, 1))).details).toMatchObject({ scope: 'credits' });
    await settle(service.deps, context, all, settledCall(context, 1_500_000));
    // 8.5 USD left: a call that could cost more is refused for good.
    expect((await denial(reserve(service.deps, context, 8_500_001))).details).toMatchObject({
      scope: 'credits',
      resetsAt: null,
    });
    const keys = service.deps.keys.organization(tenant.organizationId);
    expect(Number(await service.deps.redis.hget(keys.credits, 'balance'))).toBe(8_500_000);
    await service.drain();
    const entries = (
      await service.deps.history.listLedger(tenant.organizationId, { types: null }, { limit: 100 })
    ).data;
    expect(entries.map((entry) => entry.type).sort()).toEqual(['grant', 'usage']);
    expect(entries.find((entry) => entry.type === 'usage')).toMatchObject({
      amountMicros: -1_500_000,
      balanceAfterMicros: 8_500_000,
      reference: { agentId, conversationId: context.conversationId },
    });
  });

  it('does not count a settled call twice', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    const context = contextOf(tenant, agentId);
    const reservation = await reserve(service.deps, context, 1000);
    const call = settledCall(context, 700);
    await settle(service.deps, context, reservation, call);
    await settle(service.deps, context, reservation, call);
    const keys = service.deps.keys.organization(tenant.organizationId);
    const period = budgetPeriod(new Date(), 1).id;
    expect(await service.deps.redis.hget(keys.agentSpend(agentId, period), 'agent')).toBe('700');
    expect(await service.deps.redis.hget(keys.budgetReserved, 'credits')).toBe('0');
  });

  it('keeps Redis free of per-call keys, and drops LLM-call partitions past the retention', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    const context = contextOf(tenant, agentId);
    const keys = service.deps.keys.organization(tenant.organizationId);
    // A call from 460 days ago lands in its month's partition, wholly past the 400-day retention.
    const old = settledCall(context, 0, new Date(Date.now() - 460 * 86_400_000));
    await settle(service.deps, context, null, old);
    const call = settledCall(context, 10);
    await settle(service.deps, context, await reserve(service.deps, context, 100), call);
    await service.drain();
    expect(await service.deps.redis.xlen(keys.historyOutbox)).toBe(0);
    const page = await service.deps.history.listLlmCalls(tenant.organizationId, agentId, { limit: 10 });
    expect(page.data.map((record) => record.id)).toEqual([call.record.id, old.record.id]);
    const dropped = await service.deps.history.dropLlmCallPartitionsBefore(
      new Date(Date.now() - 400 * 86_400_000),
    );
    expect(dropped.length).toBeGreaterThan(0);
    const after = await service.deps.history.listLlmCalls(tenant.organizationId, agentId, { limit: 10 });
    expect(after.data.map((record) => record.id)).toEqual([call.record.id]);
    // The ledger is finance's: its entries are kept for ever (the grant and the debit).
    const entries = await service.deps.history.listLedger(
      tenant.organizationId,
      { types: null },
      { limit: 10 },
    );
    expect(entries.data).toHaveLength(2);
  });

  it('charges a hold a crashed process left at its bound once it expired, with a flagged record', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 0.001 });
    const context = contextOf(tenant, agentId);
    const orphan: Reservation = await reserve(service.deps, context, 1000);
    expect(orphan.amountMicros).toBe(1000);
    expect((await denial(reserve(service.deps, context, 1))).details?.scope).toBe('agent');
    const keys = service.deps.keys.organization(tenant.organizationId);
    // Before its expiry (the model timeout plus the grace) the hold is a live answer's: untouched.
    expect(await chargeExpiredHolds(service.deps, tenant.organizationId)).toBe(0);
    const later = { ...service.deps, clock: { now: () => new Date(Date.now() + 200_000) } };
    expect(await chargeExpiredHolds(later, tenant.organizationId)).toBe(1);
    expect(await chargeExpiredHolds(later, tenant.organizationId)).toBe(0);
    const period = budgetPeriod(new Date(), 1).id;
    expect(await service.deps.redis.hget(keys.agentSpend(agentId, period), 'agent')).toBe('1000');
    expect(await service.deps.redis.hget(keys.budgetReserved, `agent:${agentId}`)).toBe('0');
    expect(await service.deps.redis.zcard(keys.budgetReservations)).toBe(0);
    await service.drain();
    const [record] = (await service.deps.history.listLlmCalls(tenant.organizationId, agentId, { limit: 10 }))
      .data;
    expect(record).toMatchObject({
      settledBy: 'expiry',
      costMicros: 1000,
      usageEstimated: true,
      status: 'error',
    });
    // The answer's own settle, replayed late from a journal, is recorded and books nothing more.
    const late = await settle(service.deps, context, orphan, settledCall(context, 700), 'journal');
    expect(late).toEqual({ status: 'ok', chargedMicros: 0, overageMicros: 700 });
    expect(await service.deps.redis.hget(keys.agentSpend(agentId, period), 'agent')).toBe('1000');
    // Replaying it again is a duplicate: the late record is there once.
    expect(await settle(service.deps, context, orphan, settledCall(context, 700), 'journal')).toEqual({
      status: 'duplicate',
    });
  });

  it('books at most the hold when a model reports more usage than its bound, and keeps the excess on the record', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 0.01 });
    const context = contextOf(tenant, agentId);
    const hold = await reserve(service.deps, context, 5000);
    const call = settledCall(context, 2_000_000);
    expect(await settle(service.deps, context, hold, call)).toEqual({
      status: 'ok',
      chargedMicros: 5000,
      overageMicros: 1_995_000,
    });
    const keys = service.deps.keys.organization(tenant.organizationId);
    const period = budgetPeriod(new Date(), 1).id;
    expect(await service.deps.redis.hget(keys.agentSpend(agentId, period), 'agent')).toBe('5000');
    await service.drain();
    const [record] = (await service.deps.history.listLlmCalls(tenant.organizationId, agentId, { limit: 10 }))
      .data;
    expect(record).toMatchObject({
      id: call.record.id,
      costMicros: 5000,
      costUsd: 0.005,
      reportedCostMicros: 2_000_000,
      overageMicros: 1_995_000,
    });
  });

  it('narrows the LLM-call log on the server: by user, status, estimated usage and flagged calls', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    const alice = contextOf(tenant, agentId, { kind: 'user', id: 'alice' });
    const visitor = contextOf(tenant, agentId);
    const plain = settledCall(alice, 10);
    const failed = settledCall(visitor, 0);
    failed.record.status = 'error';
    const estimated = settledCall(visitor, 20);
    estimated.record.usageEstimated = true;
    const overReported = settledCall(alice, 2_000_000);
    await settle(service.deps, alice, await reserve(service.deps, alice, 100), plain);
    await settle(service.deps, visitor, await reserve(service.deps, visitor, 100), failed);
    await settle(service.deps, visitor, await reserve(service.deps, visitor, 100), estimated);
    await settle(service.deps, alice, await reserve(service.deps, alice, 5000), overReported);
    await service.drain();
    const ids = async (filter: string) => {
      const response = await service.call(
        'GET',
        `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/usage/llm-calls?limit=2${filter}`,
        { token: tenant.keys.viewer },
      );
      expect(response.status, response.text).toBe(200);
      return response.body.data.map((call: { id: string }) => call.id).sort();
    };
    const sorted = (...calls: { record: { id: string } }[]) => calls.map((call) => call.record.id).sort();
    // limit=2: a filter applied after paging would come back short; on the server, pages stay full.
    expect(await ids('&externalUserId=alice')).toEqual(sorted(plain, overReported));
    expect(await ids('&status=error')).toEqual(sorted(failed));
    expect(await ids('&usageEstimated=true')).toEqual(sorted(estimated));
    expect(await ids('&flagged=true')).toEqual(sorted(overReported));
    expect(await ids('&flagged=false&externalUserId=alice')).toEqual(sorted(plain));
    const bad = await service.call(
      'GET',
      `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/usage/llm-calls?status=lost`,
      { token: tenant.keys.viewer },
    );
    expect(bad.status).toBe(400);
  });

  it('starts each month with fresh counters at the reset day, 00:00 UTC', async () => {
    expect(budgetPeriod(new Date('2026-03-14T23:59:59Z'), 15)).toMatchObject({
      id: '2026-02-15',
      end: new Date('2026-03-15T00:00:00Z'),
    });
    expect(budgetPeriod(new Date('2026-03-15T00:00:00Z'), 15).id).toBe('2026-03-15');
    expect(budgetPeriod(new Date('2026-01-03T00:00:00Z'), 5).id).toBe('2025-12-05');
    expect(budgetPeriod(new Date('2026-12-31T12:00:00Z'), 1).end).toEqual(new Date('2027-01-01T00:00:00Z'));

    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 0.001 });
    const context = contextOf(tenant, agentId);
    const spent = await reserve(service.deps, context, 1000);
    await settle(service.deps, context, spent, settledCall(context, 1000));
    expect((await denial(reserve(service.deps, context, 1))).details?.scope).toBe('agent');
    const nextMonth = { ...service.deps, clock: { now: () => budgetPeriod(new Date(), 1).end } };
    const fresh = await reserve(nextMonth, context, 1000);
    expect(fresh.period.id).not.toBe(spent.period.id);
  });

  it('never overshoots when 300 reservations race for the last cents', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 0.01, defaultUserBudgetUsd: 0.005 });
    const results = await Promise.allSettled(
      Array.from({ length: 300 }, async (_, index) => {
        const context = contextOf(tenant, agentId, { kind: 'user', id: `racer-${index % 3}` });
        const reservation = await reserve(service.deps, context, 100);
        await settle(service.deps, context, reservation, settledCall(context, 60 + (index % 41)));
      }),
    );
    const keys = service.deps.keys.organization(tenant.organizationId);
    const period = budgetPeriod(new Date(), 1).id;
    const spend = await service.deps.redis.hgetall(keys.agentSpend(agentId, period));
    expect(Number(spend.agent)).toBeLessThanOrEqual(10_000);
    for (const user of ['racer-0', 'racer-1', 'racer-2'])
      expect(Number(spend[`u:${user}`] ?? 0)).toBeLessThanOrEqual(5000);
    expect(results.some((result) => result.status === 'rejected')).toBe(true);
    // The counters equal the records.
    await service.drain();
    const records = (await service.deps.history.listLlmCalls(tenant.organizationId, agentId, { limit: 1000 }))
      .data;
    expect(records.reduce((sum, record) => sum + record.costMicros, 0)).toBe(Number(spend.agent));
    expect(await service.deps.redis.hget(keys.budgetReserved, `agent:${agentId}`)).toBe('0');
  });
});

describe('budgets in the chat API', () => {
  const embed = (tenant: Tenant, agentId: string) =>
    createEmbedKey(service.call, actingAs(tenant, 'admin'), agentId, { allowedOrigins: [origin] });
  const chat = (publicKey: string, text: string) =>
    fetch(`${service.url}/api/v1/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${publicKey}`, origin, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: `conv-${randomBytes(6).toString('hex')}`,
        messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text }] }],
        visitorId: `visitor-${randomBytes(4).toString('hex')}`,
      }),
    });

  it('answers 402 budget_exceeded naming the scope before any model call', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 0.000001 });
    const before = model.requests.length;
    const response = await chat(await embed(tenant, agentId), 'hello');
    expect(response.status).toBe(402);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ code: 'budget_exceeded', scope: 'agent', capUsd: 0.000001 });
    expect(body.error.message).toContain('monthly limit');
    expect(body.error.resetsAt).toEqual(expect.any(String));
    expect(model.requests.length).toBe(before);
  });

  it('meters real chats: spend and usage reports equal the LLM-call records', async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    const publicKey = await embed(tenant, agentId);
    for (const text of ['hello', 'how are you', 'tell me more']) await (await chat(publicKey, text)).text();
    const base = `/api/v1/organizations/${tenant.organizationId}`;
    await service.drain();
    const calls = await service.call('GET', `${base}/agents/${agentId}/usage/llm-calls`, {
      token: tenant.keys.viewer,
    });
    expect(calls.body.data).toHaveLength(3);
    const total = calls.body.data.reduce(
      (sum: number, call: { costUsd: number }) => sum + call.costUsd * 1e6,
      0,
    );
    const usage = await service.call('GET', `${base}/agents/${agentId}/usage`, {
      token: tenant.keys.billing,
    });
    expect(usage.status).toBe(200);
    expect(Math.round(usage.body.spendUsd * 1e6)).toBe(Math.round(total));
    expect(usage.body).toMatchObject({ llmCalls: 3, conversations: 3, users: 0 });
    expect(usage.body.byDay).toHaveLength(1);
    const overview = await service.call('GET', `${base}/embed-usage`, { token: tenant.keys.billing });
    expect(overview.body.data[0]).toMatchObject({ agentId, llmCalls: 3 });
  });

  it("applies a signed user's own cap; a refused token falls back to anonymous and says why", async () => {
    const tenant = await service.createTenant();
    const agentId = await agentOf(tenant);
    const base = `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}`;
    const rotated = await service.call('POST', `${base}/identity-secret`, { token: tenant.keys.admin });
    expect(rotated.status, rotated.text).toBe(201);
    const sign = (sub: string, secret = rotated.body.secret as string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setAudience(agentId)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret));
    await setBudget(tenant, agentId, { enabled: true, monthlyBudgetUsd: 1, defaultUserBudgetUsd: 1 });
    // Dave's own cap is far below what one call may cost: refused as `user`, before the model.
    await service.call('PUT', `${base}/external-users/dave/budget`, {
      token: tenant.keys.admin,
      body: { monthlyBudgetUsd: 0.000001 },
    });
    const publicKey = await embed(tenant, agentId);
    const send = async (userToken: string) =>
      fetch(`${service.url}/api/v1/chat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${publicKey}`, origin, 'content-type': 'application/json' },
        body: JSON.stringify({
          id: `conv-${randomBytes(6).toString('hex')}`,
          messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hi' }] }],
          visitorId: 'visitor-signed-test',
          userToken,
        }),
      });
    const dave = await send(await sign('dave'));
    expect(dave.status).toBe(402);
    expect(((await dave.json()) as { error: { scope: string } }).error.scope).toBe('user');

    const erin = await send(await sign('erin'));
    expect(erin.status).toBe(200);
    await erin.text();
    await service.drain();
    const calls = await service.call('GET', `${base}/usage/llm-calls`, { token: tenant.keys.viewer });
    expect(calls.body.data[0]).toMatchObject({ externalUserId: 'erin', visitorId: null });
    const users = await service.call('GET', `${base}/usage/users`, { token: tenant.keys.viewer });
    expect(users.body.data[0]).toMatchObject({
      externalUserId: 'erin',
      budgetSource: 'default',
      monthlyBudgetUsd: 1,
    });

    // Erin's conversation is hers: her history comes back with her token, not without it.
    const erinsConversation = calls.body.data[0].conversationId;
    const history = (userToken?: string) =>
      fetch(
        `${service.url}/api/v1/chat/conversations/${erinsConversation}/messages?visitorId=visitor-signed-test`,
        {
          headers: {
            authorization: `Bearer ${publicKey}`,
            origin,
            ...(userToken ? { 'x-mcpstack-user-token': userToken } : {}),
          },
        },
      );
    expect((await history(await sign('erin'))).status).toBe(200);
    expect((await history()).status).toBe(404);
    expect((await history(await sign('dave'))).status).toBe(404);

    const forged = await send(await sign('dave', 'mcpstack_is_not-the-secret'));
    expect(forged.status).toBe(200);
    expect(forged.headers.get('x-mcpstack-user-token-problem')).toBe('invalid_user_token');
    await forged.text();
    await service.drain();
    const anonymous = await service.call('GET', `${base}/usage/llm-calls?limit=1`, {
      token: tenant.keys.viewer,
    });
    expect(anonymous.body.data[0]).toMatchObject({ externalUserId: null, visitorId: 'visitor-signed-test' });
  });

  it('meters a model server that reports no usage, conservatively, and says so', async () => {
    const silent = await startLocalModel({ reportUsage: false });
    const other = await startTestService({ OPENAI_BASE_URL: silent.url });
    try {
      const tenant = await other.createTenant();
      const { agentId, publicKey } = await createChatAgent(other.call, actingAs(tenant, 'admin'), {
        agent: { name: 'Silent', model: 'gpt-4.1-mini' },
        embedKey: { allowedOrigins: [origin] },
      });
      const response = await fetch(`${other.url}/api/v1/chat`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${publicKey}`,
          origin,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          id: 'conv-silent-1',
          messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hello there' }] }],
          visitorId: 'visitor-silent',
        }),
      });
      await response.text();
      await other.drain();
      const calls = await other.call(
        'GET',
        `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/usage/llm-calls`,
        { token: tenant.keys.viewer },
      );
      const [call] = calls.body.data;
      expect(call.usageEstimated).toBe(true);
      // At least what the server counted (it reported nothing, but recorded its count).
      expect(call.inputTokens).toBeGreaterThanOrEqual(silent.requests[0]?.reply ? 1 : 0);
      expect(call.outputTokens).toBeGreaterThan(0);
      expect(call.costUsd).toBeGreaterThan(0);
    } finally {
      await other.stop();
      await silent.close();
    }
  });
});

describe('AI-credit adjustments', () => {
  it('lets admins grant and debit with a reason, never below zero; others are refused', async () => {
    const tenant = await service.createTenant();
    const path = `/api/v1/organizations/${tenant.organizationId}/ai-credits/adjustments`;
    const grant = await service.call('POST', path, {
      token: tenant.keys.admin,
      body: { amountUsd: 2.5, reason: 'Goodwill' },
    });
    expect(grant.status).toBe(201);
    expect(grant.body).toMatchObject({
      type: 'adjustment',
      amountUsd: 2.5,
      balanceAfterUsd: 12.5,
      reason: 'Goodwill',
    });
    expect(grant.body.id).toMatch(/^led_/);
    const debit = await service.call('POST', path, {
      token: tenant.keys.admin,
      body: { amountUsd: -12.5, reason: 'Reset' },
    });
    expect(debit.body.balanceAfterUsd).toBe(0);
    const below = await service.call('POST', path, {
      token: tenant.keys.admin,
      body: { amountUsd: -0.01, reason: 'x' },
    });
    expect(below.status).toBe(409);
    expect(below.body.error.code).toBe('insufficient_credits');
    for (const role of ['developer', 'billing', 'viewer'] as const) {
      const refused = await service.call('POST', path, {
        token: tenant.keys[role],
        body: { amountUsd: 1, reason: 'x' },
      });
      expect(refused.status, role).toBe(403);
    }
    const bad = await service.call('POST', path, { token: tenant.keys.admin, body: { amountUsd: 1 } });
    expect(bad.status).toBe(400);
  });

  it('gives new organizations the configured free grant, and none when it is 0', async () => {
    const tenant = await service.createTenant();
    const keys = service.deps.keys.organization(tenant.organizationId);
    expect(await service.deps.redis.hget(keys.credits, 'balance')).toBe('10000000');
    const none = await startTestService({ MCPSTACK_FREE_CREDITS_USD: '0' });
    try {
      const poor = await none.createTenant();
      expect(
        await none.deps.redis.hget(none.deps.keys.organization(poor.organizationId).credits, 'balance'),
      ).toBeNull();
    } finally {
      await none.stop();
    }
  });
});
