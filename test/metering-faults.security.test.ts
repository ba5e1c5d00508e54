import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChatTenant,
  createChatTenant,
  moneyInvariants,
  outboxHistory,
  period,
  postChat,
  restartableRedis,
  twoInstances,
} from './support/fault-kit.ts';
import { startServiceProcess } from './support/service-process.ts';

/**
 * Every model call that ran is recorded exactly once, whatever fails: Redis going away in the
 * middle of an answer (the settle waits in the local journal, the answer still ends at once), or the
 * instance answering killed outright (its hold is charged at its bound when it expires, flagged).
 * After each, counters = records = ledger, and nothing stays held.
 */

let model: LocalModel;
beforeAll(async () => {
  // 30 ms between pieces: an answer of a few seconds, long enough to break something in its middle.
  model = await startLocalModel({ chunkDelayMs: 30 });
});
afterAll(async () => {
  await model?.close();
});

const serviceEnv = (extra: Record<string, string> = {}) => ({
  OPENAI_BASE_URL: model.url,
  MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'false',
  MCPSTACK_FREE_CREDITS_USD: '100',
  MCPSTACK_SETTLE_TIMEOUT_MS: '500',
  // The history stays in the outbox, next to the balance and counters it must agree with.
  MCPSTACK_HISTORY_DRAIN: 'false',
  ...extra,
});

/** Starts an answer and resolves once its first text arrived; `done` ends with the whole answer. */
async function startAnswer(url: string, tenant: ChatTenant, text: string) {
  const response = await postChat(url, tenant, text);
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text_ = '';
  while (!text_.includes('"type":"text-delta"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the answer ended before any text: ${text_}`);
    text_ += decoder.decode(value, { stream: true });
  }
  const done = (async () => {
    let body = text_;
    let lastTextAt = Date.now();
    try {
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        const piece = decoder.decode(value, { stream: true });
        if (piece.includes('"type":"text-delta"')) lastTextAt = Date.now();
        body += piece;
      }
    } catch {
      // the connection was cut
    }
    return { body, lastTextAt, endedAt: Date.now() };
  })();
  return { done };
}

async function records(client: Redis, prefix: string, tenant: ChatTenant) {
  return (await outboxHistory(client, prefix, tenant.organizationId)).calls;
}

/**
 * Waits until the call's one record is there, settled as one of `settledBy`; then the books must be
 * exact: nothing held, counters = records = ledger, the balance the grant less the spend.
 */
async function expectOneCallBooked(
  client: Redis,
  prefix: string,
  tenant: ChatTenant,
  settledBy: readonly string[],
) {
  await expect
    .poll(async () => (await records(client, prefix, tenant)).map((record) => record.settledBy), {
      timeout: 60_000,
      interval: 200,
    })
    .toSatisfy((seen: string[]) => seen.length === 1 && settledBy.includes(seen[0] ?? ''));
  const books = await moneyInvariants(client, prefix, tenant, period);
  expect(books.held).toBe(0);
  expect(books.calls).toBe(1);
  expect(books.spend).toBeGreaterThan(0);
  expect(books.spend).toBe(books.recordsSum);
  expect(books.balance).toBe(books.ledgerSum);
  expect(books.balance).toBe(100_000_000 - books.spend);
}

describe('an LLM call is recorded exactly once, whatever fails', () => {
  it('Redis killed in the middle of an answer: the answer ends at once, the journal settles the call when Redis is back', async () => {
    const redis = await restartableRedis();
    const service = await startServiceProcess(redis.url, serviceEnv());
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      const tenant = await createChatTenant(service, { enabled: true, monthlyBudgetUsd: 5 });
      const prefix = service.prefix;
      const answer = await startAnswer(service.url, tenant, '[long] tell me a story');
      await redis.stop();
      const { body, lastTextAt, endedAt } = await answer.done;
      // The model's stream went on without Redis; the answer ended with it, not after settle retries
      // (the settle waits MCPSTACK_SETTLE_TIMEOUT_MS, 500 ms here, then goes to the journal).
      expect(body).toContain('"type":"finish"');
      expect(body.trim().endsWith('data: [DONE]')).toBe(true);
      expect(endedAt - lastTextAt).toBeLessThan(10_000);
      await redis.start();
      await client.connect();
      // The journal replays once Redis answers: one record, books exact. (Settled by the journal; or,
      // on a slow machine, by the first attempt ioredis still held when Redis came back, the journal's
      // replay then being a duplicate: once either way.)
      await expectOneCallBooked(client, prefix, tenant, ['journal', 'stream']);
    } finally {
      client.disconnect();
      await service.stop();
      await redis.destroy();
    }
  }, 180_000);

  it('the instance killed in the middle of an answer: its hold is charged at its bound at expiry, flagged for finance', async () => {
    // The first instance dies; the second survives, and its sweeper charges the hold.
    const instances = await twoInstances(
      serviceEnv({
        MCPSTACK_MODEL_TIMEOUT_MS: '2000',
        MCPSTACK_RESERVATION_GRACE_MS: '200',
        MCPSTACK_HOLD_SWEEP_MS: '200',
      }),
    );
    const { first: dying, client } = instances;
    try {
      const tenant = await createChatTenant(dying, { enabled: true, monthlyBudgetUsd: 5 });
      const prefix = dying.prefix;
      const answer = await startAnswer(dying.url, tenant, '[long] tell me a story');
      dying.child.kill('SIGKILL');
      await dying.exited;
      await answer.done;
      expect((await moneyInvariants(client, prefix, tenant, period)).held).toBeGreaterThan(0);
      // The survivor's sweeper charges the hold once it expired (the model timeout plus the grace).
      await expectOneCallBooked(client, prefix, tenant, ['expiry']);
    } finally {
      await instances.stop();
    }
  }, 180_000);
});
