import { randomBytes } from 'node:crypto';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { outputPricedModel } from '@mcpstack/test-support/models';
import { actingAs, createChatAgent, setAgentBudget } from '@mcpstack/test-support/tenants';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

const origin = 'https://alerts.example';
/** Priced almost only on output, so a hold is within a few percent of an answer's cost (as in bench/budget-race.ts). */
const raceModel = outputPricedModel('alerts-output-priced', 10);
const question = '[long] Tell me everything about monthly budgets.';
const webhookEnv = {
  MCPSTACK_MODEL_CATALOG: JSON.stringify([raceModel]),
  MCPSTACK_WEBHOOK_POLL_MS: '50',
  MCPSTACK_WEBHOOK_RETRY_BASE_MS: '150',
};

let model: LocalModel;
let service: TestService;
const http = new Agent({ connections: 300 });

interface World {
  tenant: Tenant;
  agentId: string;
  publicKey: string;
  endpointId: string;
  receiver: WebhookReceiver;
}

async function chat(
  target: TestService,
  publicKey: string,
  visitorId = `visitor-${randomBytes(6).toString('hex')}`,
) {
  const response = await request(`${target.url}/api/v1/chat`, {
    method: 'POST',
    dispatcher: http,
    headers: { authorization: `Bearer ${publicKey}`, origin, 'content-type': 'application/json' },
    body: JSON.stringify({
      id: `conv-${randomBytes(8).toString('hex')}`,
      messages: [{ id: 'msg-1', role: 'user', parts: [{ type: 'text', text: question }] }],
      trigger: 'submit-message',
      visitorId,
    }),
  });
  return { status: response.statusCode, text: await response.body.text() };
}

/** An organization, an agent on the output-priced model, an embed key and an endpoint on a real receiver. */
async function world(target: TestService, eventTypes = ['budget.threshold_reached']): Promise<World> {
  const tenant = await target.createTenant();
  const { agentId, publicKey } = await createChatAgent(target.call, actingAs(tenant, 'admin'), {
    agent: { name: 'Alerts', model: raceModel.id, instructions: 'Answer.', maxOutputTokens: 64 },
    embedKey: { name: 'site', allowedOrigins: [origin] },
  });
  const receiver = await startWebhookReceiver();
  const endpoint = await target.call(
    'POST',
    `/api/v1/organizations/${tenant.organizationId}/webhook-endpoints`,
    {
      token: tenant.keys.admin,
      body: { url: receiver.url, eventTypes },
    },
  );
  expect(endpoint.status, endpoint.text).toBe(201);
  expect(endpoint.body.secret).toMatch(/^whsec_/);
  receiver.secret = endpoint.body.secret;
  return { tenant, agentId, publicKey, endpointId: endpoint.body.id, receiver };
}

/** What one answer costs: one answer on the agent before its budget is on. */
async function answerCostMicros(target: TestService, w: World): Promise<number> {
  const answered = await chat(target, w.publicKey);
  expect(answered.status, answered.text).toBe(200);
  const keys = target.deps.keys.organization(w.tenant.organizationId);
  const periods = await target.deps.redis.keys(`${keys.agentSpend(w.agentId, '')}*`);
  expect(periods).toHaveLength(1);
  return Number(await target.deps.redis.hget(periods[0] as string, 'agent'));
}

const setCap = (target: TestService, w: World, capMicros: number) =>
  setAgentBudget(target.call, actingAs(w.tenant, 'admin'), w.agentId, {
    enabled: true,
    monthlyBudgetUsd: capMicros / 1_000_000,
  });

const deliveriesOf = (target: TestService, w: World) =>
  target.call(
    'GET',
    `/api/v1/organizations/${w.tenant.organizationId}/webhook-endpoints/${w.endpointId}/deliveries`,
    { token: w.tenant.keys.admin },
  );

beforeAll(async () => {
  model = await startLocalModel();
  service = await startTestService({ OPENAI_BASE_URL: model.url, ...webhookEnv });
});

afterAll(async () => {
  await service?.stop();
  await model?.close();
  await http.close();
});

describe('webhook endpoints', () => {
  it('creates, reads, updates, rotates and deletes an endpoint; the secret shows only when made', async () => {
    const w = await world(service);
    const path = `/api/v1/organizations/${w.tenant.organizationId}/webhook-endpoints/${w.endpointId}`;
    const admin = { token: w.tenant.keys.admin };
    const read = await service.call('GET', path, admin);
    expect(read.status, read.text).toBe(200);
    expect(read.body.secret).toBeUndefined();
    expect(read.text).not.toContain(w.receiver.secret);
    const stored = await service.deps.redis.get(
      service.deps.keys.organization(w.tenant.organizationId).entity('webhook-endpoint', w.endpointId),
    );
    expect(stored).not.toContain(w.receiver.secret);
    const updated = await service.call('PATCH', path, {
      ...admin,
      body: { eventTypes: ['credits.depleted', 'usage.overage_flagged'], description: 'ops' },
    });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.body).toMatchObject({
      eventTypes: ['credits.depleted', 'usage.overage_flagged'],
      description: 'ops',
    });
    const bad = await service.call('PATCH', path, { ...admin, body: { eventTypes: ['budget.nope'] } });
    expect(bad.status).toBe(400);
    const rotated = await service.call('POST', `${path}/rotate-secret`, admin);
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(w.receiver.secret);
    // The test event is signed with the new secret.
    w.receiver.secret = rotated.body.secret;
    const test = await service.call('POST', `${path}/test`, admin);
    expect(test.status, test.text).toBe(202);
    await expect.poll(() => w.receiver.accepted.map((event) => event.type)).toEqual(['webhook.test']);
    expect(w.receiver.accepted[0]?.webhookId).toBe(test.body.eventId);
    const listed = await service.call(
      'GET',
      `/api/v1/organizations/${w.tenant.organizationId}/webhook-endpoints`,
      admin,
    );
    expect(listed.body.data.map((endpoint: { id: string }) => endpoint.id)).toEqual([w.endpointId]);
    expect((await service.call('DELETE', path, admin)).status).toBe(204);
    expect((await service.call('GET', path, admin)).body.error.code).toBe('webhook_endpoint_not_found');
    await w.receiver.close();
  });
});

describe('credit alerts', () => {
  it("fires credits.low_balance once when a call crosses the organization's own threshold", async () => {
    const w = await world(service, ['credits.low_balance']);
    const base = `/api/v1/organizations/${w.tenant.organizationId}`;
    const billing = { token: w.tenant.keys.billing };
    const cost = await answerCostMicros(service, w);
    const summary = await service.call('GET', `${base}/ai-credits/summary`, billing);
    const balance = Math.round(summary.body.balanceUsd * 1_000_000);
    // Half an answer below the balance: the next answer crosses it, the one after is already below.
    const thresholdUsd = (balance - Math.floor(cost / 2)) / 1_000_000;
    const viewer = await service.call('PUT', `${base}/ai-credits/settings`, {
      token: w.tenant.keys.viewer,
      body: { lowBalanceThresholdUsd: thresholdUsd },
    });
    expect(viewer.status).toBe(403);
    const set = await service.call('PUT', `${base}/ai-credits/settings`, {
      ...billing,
      body: { lowBalanceThresholdUsd: thresholdUsd },
    });
    expect(set.status, set.text).toBe(200);
    expect(set.body).toEqual({ lowBalanceThresholdUsd: thresholdUsd });
    expect((await chat(service, w.publicKey)).status).toBe(200);
    expect((await chat(service, w.publicKey)).status).toBe(200);
    await expect.poll(() => w.receiver.accepted.map((event) => event.type)).toEqual(['credits.low_balance']);
    expect(w.receiver.accepted[0]?.data).toMatchObject({ thresholdUsd });
    const low = await service.call('GET', `${base}/ai-credits/summary`, billing);
    expect(low.body).toMatchObject({ lowBalance: true, lowBalanceThresholdUsd: thresholdUsd });
    // Back to the service's default (MCPSTACK_LOW_BALANCE_USD, 1 USD).
    const reset = await service.call('PUT', `${base}/ai-credits/settings`, {
      ...billing,
      body: { lowBalanceThresholdUsd: null },
    });
    expect(reset.body).toEqual({ lowBalanceThresholdUsd: 1 });
    expect((await service.call('GET', `${base}/ai-credits/settings`, billing)).body).toEqual({
      lowBalanceThresholdUsd: 1,
    });
  });
});

describe('budget threshold alerts', () => {
  it('sends exactly one signed event per threshold when 200 answers at once cross 50, 80 and 100 % of the cap', async () => {
    const w = await world(service);
    const cost = await answerCostMicros(service, w);
    // The cap pays for about 100 more answers: the burst crosses 50 and 80 % as answers settle, and
    // requests refused once the cap cannot pay for one more answer reach 100 %.
    await setCap(service, w, cost * 101);
    const burst = await Promise.all(Array.from({ length: 200 }, () => chat(service, w.publicKey)));
    const statuses = new Map<number, number>();
    for (const outcome of burst) statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
    expect(statuses.get(200) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(50);
    // The spent cap refuses what comes next (at once, too): 100 % is reached, once.
    const after = await Promise.all(Array.from({ length: 20 }, () => chat(service, w.publicKey)));
    expect(after.every((outcome) => outcome.status === 402)).toBe(true);
    await expect
      .poll(() => w.receiver.accepted.map((event) => event.data.thresholdPercent).sort((a, b) => a - b), {
        timeout: 30_000,
      })
      .toEqual([50, 80, 100]);
    // Nothing more comes: a few more passes of the worker deliver no second event.
    await service.running.webhooks.tick();
    await service.running.webhooks.tick();
    expect(w.receiver.accepted).toHaveLength(3);
    expect(new Set(w.receiver.accepted.map((event) => event.webhookId)).size).toBe(3);
    expect(w.receiver.requests.every((entry) => entry.verified)).toBe(true);
    for (const event of w.receiver.accepted) {
      expect(event.type).toBe('budget.threshold_reached');
      expect(event.data).toMatchObject({
        organizationId: w.tenant.organizationId,
        agentId: w.agentId,
        scope: 'agent',
        limitUsd: (cost * 101) / 1_000_000,
      });
      expect(event.data.spentUsd * 100).toBeGreaterThanOrEqual(
        (event.data.thresholdPercent - 1) * event.data.limitUsd,
      );
    }
    // A raised cap re-arms the thresholds: the next answer past 50 % of the new cap fires 50 again.
    await setCap(service, w, cost * 160);
    const again = await chat(service, w.publicKey);
    expect(again.status, again.text).toBe(200);
    await expect
      .poll(
        () => w.receiver.accepted.filter((event) => event.data.limitUsd === (cost * 160) / 1_000_000).length,
      )
      .toBe(1);
    expect(w.receiver.accepted.at(-1)?.data.thresholdPercent).toBe(50);
    await w.receiver.close();
  }, 120_000);

  it('retries a failing receiver with backoff and delivers the event once it answers, with every attempt recorded', async () => {
    const w = await world(service);
    const cost = await answerCostMicros(service, w);
    w.receiver.failNext(3);
    // 1 answer spent, the cap pays for 2.4: the next one crosses 50 and 80 % (2 / 2.4).
    await setCap(service, w, Math.round(cost * 2.4));
    expect((await chat(service, w.publicKey)).status).toBe(200);
    await expect
      .poll(() => w.receiver.accepted.map((event) => event.data.thresholdPercent).sort(), { timeout: 30_000 })
      .toEqual([50, 80]);
    const deliveries = await deliveriesOf(service, w);
    expect(deliveries.status, deliveries.text).toBe(200);
    expect(deliveries.body.data).toHaveLength(2);
    const attempts = deliveries.body.data.flatMap((delivery: { attempts: { responseStatus: number }[] }) =>
      delivery.attempts.map((entry) => entry.responseStatus),
    );
    expect(attempts.filter((status: number) => status === 500)).toHaveLength(3);
    expect(attempts.filter((status: number) => status === 200)).toHaveLength(2);
    expect(
      deliveries.body.data.every((delivery: { status: string }) => delivery.status === 'succeeded'),
    ).toBe(true);
    // Each event got through once; the failed requests carried the same webhook-id.
    expect(w.receiver.accepted).toHaveLength(2);
    const failedIds = new Set(
      w.receiver.requests.filter((entry) => entry.status === 500).map((entry) => entry.webhookId),
    );
    for (const id of failedIds) expect(w.receiver.accepted.map((event) => event.webhookId)).toContain(id);
    // A redeliver sends the same event again, on request.
    const first = deliveries.body.data[0];
    const redelivered = await service.call(
      'POST',
      `/api/v1/organizations/${w.tenant.organizationId}/webhook-endpoints/${w.endpointId}/deliveries/${first.id}/redeliver`,
      { token: w.tenant.keys.admin },
    );
    expect(redelivered.status, redelivered.text).toBe(202);
    await expect.poll(() => w.receiver.accepted.length).toBe(3);
    expect(w.receiver.accepted.at(-1)?.webhookId).toBe(first.eventId);
    await w.receiver.close();
  }, 60_000);

  it('loses nothing when the service stops between attempts: another instance on the same Redis delivers it once', async () => {
    const prefix = `mcpstack-test:${randomBytes(6).toString('hex')}:`;
    const first = await startTestService({
      OPENAI_BASE_URL: model.url,
      MCPSTACK_REDIS_PREFIX: prefix,
      ...webhookEnv,
    });
    const w = await world(first);
    const cost = await answerCostMicros(first, w);
    w.receiver.failAll(true);
    await setCap(first, w, Math.round(cost * 3.5));
    expect((await chat(first, w.publicKey)).status).toBe(200);
    // The event (50 %) was tried and refused at least once, and is waiting for its next attempt.
    await expect.poll(() => w.receiver.requests.length, { timeout: 30_000 }).toBeGreaterThan(0);
    await first.running.close();
    const triedBefore = w.receiver.requests.length;
    w.receiver.failAll(false);
    const second = await startTestService({
      OPENAI_BASE_URL: model.url,
      MCPSTACK_REDIS_PREFIX: prefix,
      ...webhookEnv,
    });
    try {
      await expect.poll(() => w.receiver.accepted.length, { timeout: 30_000 }).toBe(1);
      expect(w.receiver.accepted[0]?.data.thresholdPercent).toBe(50);
      expect(w.receiver.requests.length).toBeGreaterThan(triedBefore);
      await second.running.webhooks.tick();
      await second.running.webhooks.tick();
      expect(w.receiver.accepted).toHaveLength(1);
      const deliveries = await deliveriesOf(second, w);
      expect(deliveries.body.data).toHaveLength(1);
      expect(deliveries.body.data[0].status).toBe('succeeded');
      expect(deliveries.body.data[0].attempts.length).toBeGreaterThan(1);
    } finally {
      await second.stop();
      await w.receiver.close();
    }
  }, 60_000);
});
