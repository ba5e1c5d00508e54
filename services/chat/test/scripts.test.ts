import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ZodError } from 'zod';
import { createRedis, type RedisClient } from '../src/storage/redis.ts';
import { loadScripts, type Scripts } from '../src/storage/scripts.ts';

let redis: RedisClient;
let scripts: Scripts;
const prefix = `test-scripts-${randomBytes(4).toString('hex')}:`;

beforeAll(() => {
  redis = createRedis({ url: inject('redisUrl'), cluster: false });
  scripts = loadScripts(redis);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** Stands a script in for another under its command name: one that answers outside the contract. */
function replaceScript(name: keyof Scripts, numberOfKeys: number, lua: string) {
  redis.defineCommand(name, { numberOfKeys, lua });
}

const reserveKeys = {
  settings: `${prefix}settings`,
  spend: `${prefix}spend`,
  userCaps: `${prefix}user-caps`,
  reserved: `${prefix}reserved`,
  holds: `${prefix}holds`,
  holdData: `${prefix}hold-data`,
  credits: `${prefix}credits`,
  alertMarkers: `${prefix}alert-markers`,
  events: `${prefix}events`,
  endpoints: `${prefix}endpoints`,
};

const reserveArgs = {
  holdId: 'hold-1',
  amountMicros: 1_000,
  now: new Date('2026-03-05T10:00:00Z'),
  expiresAtMs: Date.parse('2026-03-05T10:05:00Z'),
  externalUserId: null,
  agentId: 'agent_1',
  holdContextJson: '{}',
  periodEnd: new Date('2026-04-01T00:00:00Z'),
  periodId: '2026-03-01',
  eventIdPrefix: 'evt_1.',
  assumedResetDay: null,
  defaultResetDay: 1,
  quiet: false,
  admission: null,
};

describe('script wrappers', () => {
  it('answers a reserve with named fields: credits denied with the balance as the cap', async () => {
    await redis.hset(reserveKeys.credits, 'balance', 400);
    expect(await scripts.budgetReserve(reserveKeys, reserveArgs)).toEqual({
      status: 'denied',
      scope: 'credits',
      capMicros: 400,
      usedMicros: 0,
      spentMicros: 0,
    });
    await redis.hset(reserveKeys.credits, 'balance', 5_000);
    expect(await scripts.budgetReserve(reserveKeys, reserveArgs)).toEqual({ status: 'ok' });
    expect(await redis.hget(reserveKeys.reserved, 'credits')).toBe('1000');
    expect(await scripts.budgetRelease(reserveKeys, { holdId: 'hold-1' })).toBe(1);
    expect(await redis.hget(reserveKeys.reserved, 'credits')).toBe('0');
  });

  it('refuses a reserve reply outside its contract (a cap that is not a number) instead of casting it', async () => {
    replaceScript('budgetReserve', 11, "return { 'denied', 'agent', 'lots', 0, 0 }");
    const refused = await scripts.budgetReserve(reserveKeys, reserveArgs).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/^budget-reserve\.lua replied outside its contract/);
    expect((refused as Error).cause).toBeInstanceOf(ZodError);
  });

  it('refuses a compare-and-set reply other than 1 or 0, and a status the script never answers', async () => {
    replaceScript('hashFieldSwap', 1, 'return 2');
    await expect(
      scripts.hashFieldSwap({ hash: `${prefix}hash` }, { field: 'f', expected: null, value: 'v' }),
    ).rejects.toThrow(/^hash-field-swap\.lua replied outside its contract/);
    replaceScript('budgetSettle', 14, "return { 'settled' }");
    await expect(
      scripts.budgetSettle(
        {
          ...reserveKeys,
          users: `${prefix}users`,
          historyOutbox: `${prefix}outbox`,
          expiredMarker: `${prefix}expired`,
          creditSettings: `${prefix}credit-settings`,
        },
        {
          holdId: null,
          costMicros: 0,
          externalUserId: null,
          day: '2026-03-05',
          callId: 'call_1',
          callRecord: '{}',
          ledgerEntryId: 'led_1',
          conversationId: 'conv_1',
          periodKeyTtlSeconds: 60,
          periodId: '2026-03-01',
          settledBy: 'stream',
          expiredMarkerSeconds: 60,
          periodEnd: new Date('2026-04-01T00:00:00Z'),
          defaultLowBalanceMicros: 0,
          eventIdPrefix: 'evt_1.',
          now: new Date('2026-03-05T10:00:00Z'),
          agentId: 'agent_1',
        },
      ),
    ).rejects.toThrow(/^budget-settle\.lua replied outside its contract/);
  });

  it('refuses to send a call whose keys do not match the script (rate-limit: a limit per bucket)', async () => {
    await expect(
      scripts.rateLimit({ buckets: [`${prefix}bucket`] }, { nowMs: 0, perMinute: [1, 2] }),
    ).rejects.toThrow(/1 buckets, 2 limits/);
  });
});
