import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type ChatOutcome,
  type ChatTenant,
  chatTurn,
  createChatTenant,
  moneyInvariants,
  outboxHistory,
  period,
  restartableRedis,
  startRedisCluster,
  twoInstances,
} from './support/fault-kit.ts';
import { type ServiceProcess, startReplica, startServiceProcess } from './support/service-process.ts';

/**
 * Proof under faults: each test starts its own redis-server(s) and service processes (as
 * `npm start` runs them) and breaks something on purpose. No step waits a fixed time: each polls
 * for the state it needs (traffic flowing, requests failed, Redis back, a reservation expired), and
 * the per-test ceilings leave room for a loaded 2-core machine where a process takes seconds to start.
 */

const serviceEnv = (modelUrl: string, extra: Record<string, string> = {}) => ({
  OPENAI_BASE_URL: modelUrl,
  MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'false',
  MCPSTACK_RATE_LIMIT_IP_PER_MINUTE: '100000',
  MCPSTACK_RATE_LIMIT_VISITOR_PER_MINUTE: '100000',
  MCPSTACK_RATE_LIMIT_KEY_PER_MINUTE: '100000',
  MCPSTACK_FREE_CREDITS_USD: '100',
  // The history stays in the outbox (read by moneyInvariants): each instance's PGlite is its own.
  MCPSTACK_HISTORY_DRAIN: 'false',
  ...extra,
});

let model: LocalModel;
beforeAll(async () => {
  model = await startLocalModel();
});
afterAll(async () => {
  await model?.close();
});

describe('Redis restarts during traffic (AOF on)', () => {
  it('fails in-flight requests cleanly, serves new ones after, loses and doubles nothing', async () => {
    const redis = await restartableRedis();
    const service = await startServiceProcess(redis.url, serviceEnv(model.url));
    type Phase = 'before' | 'down' | 'after';
    let phase: Phase = 'before';
    let running = true;
    try {
      const tenant = await createChatTenant(service);
      const outcomes: (ChatOutcome & { visitor: number; sentDuring: Phase })[] = [];
      const summary = () =>
        JSON.stringify(
          outcomes.map((outcome) => [
            outcome.visitor,
            outcome.sentDuring,
            outcome.status,
            outcome.types.length,
            outcome.errorText,
          ]),
        );
      const complete = (outcome: ChatOutcome) =>
        outcome.status === 200 && outcome.types.at(-1) === 'finish' && !outcome.errorText;
      const failed = (outcome: ChatOutcome) => outcome.status === 503 || outcome.errorText !== null;
      const everyVisitorHad = (matching: (outcome: (typeof outcomes)[number]) => boolean) => {
        for (let visitor = 0; visitor < 4; visitor++)
          expect(
            outcomes.some((outcome) => outcome.visitor === visitor && matching(outcome)),
            summary(),
          ).toBe(true);
      };
      // Four visitors chatting back to back for the whole window.
      const traffic = Promise.all(
        Array.from({ length: 4 }, async (_, visitor) => {
          while (running) {
            const sentDuring = phase;
            const outcome = await chatTurn(service.url, tenant, 'hello there');
            outcomes.push({ ...outcome, visitor, sentDuring });
          }
        }),
      );
      // Traffic flows: every visitor has had a complete answer before Redis goes.
      await vi.waitFor(() => everyVisitorHad(complete), { timeout: 60_000, interval: 50 });
      await redis.stop();
      phase = 'down';
      // Redis stays down until every visitor has had a request refused that was sent after it went:
      // so each request in flight at that moment has ended (failed once the service's 5 s Redis
      // command timeout passed, or finished), and the service refuses new ones while the store is gone.
      await vi.waitFor(() => everyVisitorHad((outcome) => outcome.sentDuring === 'down' && failed(outcome)), {
        timeout: 90_000,
        interval: 100,
      });
      await redis.start();
      phase = 'after';
      // Served again: a request sent after the restart was answered in full.
      await vi.waitFor(
        () =>
          expect(
            outcomes.some((outcome) => outcome.sentDuring === 'after' && complete(outcome)),
            summary(),
          ).toBe(true),
        { timeout: 60_000, interval: 100 },
      );
      running = false;
      await traffic;

      // Every answer was either complete, or a clean failure: 503 or an error part, never a 500.
      for (const outcome of outcomes) {
        const refused = outcome.status === 503 && outcome.errorCode === 'service_unavailable';
        const streamFailed = outcome.status === 200 && outcome.errorText !== null;
        expect(complete(outcome) || refused || streamFailed, JSON.stringify(outcome)).toBe(true);
      }
      expect(
        outcomes.some((outcome) => outcome.status === 503 || outcome.errorText),
        JSON.stringify(outcomes.map((outcome) => [outcome.status, outcome.types.length, outcome.errorText])),
      ).toBe(true);
      // Back to normal once Redis is.
      const after = await chatTurn(service.url, tenant, 'are you back?');
      expect(after.status).toBe(200);
      expect(after.types.at(-1)).toBe('finish');

      const client = new Redis(redis.url);
      try {
        const prefix = service.prefix;
        // Settlements retried after the restart may still be landing: poll until the books agree.
        await vi.waitFor(
          async () => {
            const books = await moneyInvariants(client, prefix, tenant, period);
            expect(books.balance).toBe(books.ledgerSum);
            expect(books.spend).toBe(books.recordsSum);
            expect(books.balance).toBe(100_000_000 - books.spend);
          },
          { timeout: 30_000, interval: 200 },
        );
      } finally {
        client.disconnect();
      }
    } finally {
      running = false;
      // A failure while Redis was down: bring it back so the cleanup can run and the error shows.
      if (phase === 'down') await redis.start();
      await service.stop();
      await redis.destroy();
    }
  }, 240_000);
});

describe('the service killed in the middle of streams', () => {
  it("charges the dead instance's holds at expiry, keeps counters exact, and the visitor continues on another instance", async () => {
    const { first, second, client, stop } = await twoInstances(
      serviceEnv(model.url, {
        MCPSTACK_MODEL_TIMEOUT_MS: '5000',
        MCPSTACK_RESERVATION_GRACE_MS: '500',
        MCPSTACK_HOLD_SWEEP_MS: '200',
      }),
    );
    try {
      const tenant = await createChatTenant(first, { enabled: true, monthlyBudgetUsd: 1 });
      const conversationId = 'conv-killed-mid-stream';
      const visitorId = 'visitor-killed';
      const cut = new AbortController();
      const inFlight = chatTurn(first.url, tenant, '[slow] [long] tell me a story', {
        conversationId,
        visitorId,
        signal: cut.signal,
      });
      const prefix = first.prefix;
      // The answer is under way: the model has the request and the turn holds its reservation.
      await vi.waitFor(
        async () => {
          expect(
            model.requests.some((request) => JSON.stringify(request.body).includes('tell me a story')),
          ).toBe(true);
          expect((await moneyInvariants(client, prefix, tenant, period)).held).toBeGreaterThan(0);
        },
        { timeout: 30_000, interval: 50 },
      );
      first.child.kill('SIGKILL');
      await first.exited;
      await inFlight;
      const held = await moneyInvariants(client, prefix, tenant, period);
      expect(held.held).toBeGreaterThan(0); // the dead process's reservation is still there

      // After the model timeout and the grace, the survivor charges it at its bound (never releases it).
      await expect
        .poll(async () => (await moneyInvariants(client, prefix, tenant, period)).held, {
          timeout: 30_000,
          interval: 200,
        })
        .toBe(0);
      const resumed = await chatTurn(second.url, tenant, 'are you still there?', {
        conversationId,
        visitorId,
      });
      expect(resumed.status).toBe(200);
      expect(resumed.types.at(-1)).toBe('finish');
      const books = await moneyInvariants(client, prefix, tenant, period);
      expect(books.held).toBe(0);
      expect(books.spend).toBe(books.recordsSum);
      expect(books.balance).toBe(books.ledgerSum);

      const history = await fetch(
        `${second.url}/api/v1/chat/conversations/${conversationId}/messages?visitorId=${visitorId}`,
        { headers: { authorization: `Bearer ${tenant.publicKey}`, origin: 'https://shop.example' } },
      );
      const body = (await history.json()) as { messages: { role: string }[] };
      expect(body.messages.map((message) => message.role)).toEqual(['user', 'user', 'assistant']);
    } finally {
      await stop();
    }
  }, 180_000);
});

const refusal = new Set(['budget_exceeded', 'budget_busy']);

async function raceForTheCap(services: ServiceProcess[], tenant: ChatTenant, requests: number) {
  const outcomes = await Promise.all(
    Array.from({ length: requests }, (_, index) =>
      chatTurn(services[index % services.length]?.url ?? '', tenant, `hello number ${index}`),
    ),
  );
  return {
    answered: outcomes.filter((outcome) => outcome.status === 200).length,
    // 402 when the spend reached the cap; 429 budget_busy while answers in progress hold the rest.
    refused: outcomes.filter((outcome) => refusal.has(outcome.errorCode ?? '')).length,
    other: outcomes.filter((outcome) => outcome.status !== 200 && !refusal.has(outcome.errorCode ?? '')),
  };
}

describe('two instances behind one Redis, and a three-node Redis Cluster', () => {
  it('holds the agent cap with zero overshoot across two instances', async () => {
    const { first: a, second: b, client, stop } = await twoInstances(serviceEnv(model.url));
    try {
      const tenant = await createChatTenant(a, { enabled: true, monthlyBudgetUsd: 0.01 });
      const result = await raceForTheCap([a, b], tenant, 120);
      expect(result.other).toEqual([]);
      expect(result.refused).toBeGreaterThan(0);
      expect(result.answered).toBeGreaterThan(0);
      const books = await moneyInvariants(client, a.prefix, tenant, period);
      expect(books.spend).toBeLessThanOrEqual(10_000);
      expect(books.spend).toBe(books.recordsSum);
      expect(books.held).toBe(0);
    } finally {
      await stop();
    }
  }, 180_000);

  it('holds it on a Redis Cluster too (every multi-key script in one slot)', async () => {
    const cluster = await startRedisCluster();
    const a = await startServiceProcess(
      cluster.url,
      serviceEnv(model.url, { MCPSTACK_REDIS_CLUSTER: 'true' }),
    );
    const b = await startReplica(a, serviceEnv(model.url, { MCPSTACK_REDIS_CLUSTER: 'true' }));
    const client = new Cluster(
      cluster.url.split(',').map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })),
    );
    try {
      const tenant = await createChatTenant(a, { enabled: true, monthlyBudgetUsd: 0.01 });
      const result = await raceForTheCap([a, b], tenant, 120);
      expect(result.other).toEqual([]);
      expect(result.refused).toBeGreaterThan(0);
      const books = await moneyInvariants(client, a.prefix, tenant, period);
      expect(books.spend).toBeLessThanOrEqual(10_000);
      expect(books.spend).toBe(books.recordsSum);
      expect(books.balance).toBe(books.ledgerSum);
      expect(books.held).toBe(0);
    } finally {
      client.disconnect();
      await b.stop();
      await a.stop();
      await cluster.stop();
    }
  }, 240_000);
});

describe('model and MCP failures mid-stream', () => {
  it('shows the visitor a clear error, records what happened, and settles the reservation', async () => {
    const redis = await restartableRedis();
    const service = await startServiceProcess(
      redis.url,
      serviceEnv(model.url, { MCPSTACK_MODEL_TIMEOUT_MS: '10000' }),
    );
    const client = new Redis(redis.url);
    const slowModel = await startLocalModel({ firstTokenDelayMs: 5000 });
    const slow = await startReplica(
      service,
      serviceEnv(slowModel.url, { MCPSTACK_MODEL_TIMEOUT_MS: '1000' }),
    );
    try {
      const tenant = await createChatTenant(service);
      const prefix = service.prefix;
      const failed = await chatTurn(service.url, tenant, '[error] please fail');
      expect(failed.status, JSON.stringify(failed)).toBe(200);
      expect(failed.errorText).toContain('model is unavailable');
      const cut = await chatTurn(service.url, tenant, '[stream-error] please break');
      expect(cut.errorText).not.toBeNull();
      const timedOut = await chatTurn(slow.url, tenant, 'hello slowly');
      expect(timedOut.errorText).toContain('took too long');

      const records = (await outboxHistory(client, prefix, tenant.organizationId)).calls;
      expect(
        records.some((record) => record.status === 'error' && record.error),
        JSON.stringify(records),
      ).toBe(true);
      expect(
        records.filter((record) => record.status !== 'ok').length,
        JSON.stringify(records.map((record) => [record.status, record.error, record.outputTokens])),
      ).toBeGreaterThanOrEqual(3);
      const books = await moneyInvariants(client, prefix, tenant, period);
      expect(books.held).toBe(0);
      expect(books.spend).toBe(books.recordsSum);
      expect(books.balance).toBe(books.ledgerSum);
    } finally {
      client.disconnect();
      await slow.stop();
      await service.stop();
      await slowModel.close();
      await redis.destroy();
    }
  }, 180_000);
});
