import { randomBytes } from 'node:crypto';
import { actingAs, createAgent } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MeterContext, reserve, settle } from '../src/domain/budgets/meter.ts';
import { budgetPeriod } from '../src/domain/budgets/periods.ts';
import { adjustCredits } from '../src/domain/credits/adjustments.ts';
import { createDrainer, drainGroup } from '../src/domain/history/drainer.ts';
import { runReconcile } from '../src/reconcile-command.ts';
import type { HistoryStore } from '../src/storage/database/history-store.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';
import { settledCall } from './support/llm-calls.ts';

let service: TestService;

beforeAll(async () => {
  // No drainer of its own: each test drives the drainers it needs.
  service = await startTestService({ MCPSTACK_FREE_CREDITS_USD: '10', MCPSTACK_HISTORY_DRAIN: 'false' });
});

afterAll(async () => {
  await service?.stop();
});

const agentOf = (tenant: Tenant, name: string) =>
  createAgent(service.call, actingAs(tenant, 'admin'), { name, model: 'gpt-4.1-mini' });

function contextOf(tenant: Tenant, agentId: string, owner: MeterContext['owner']): MeterContext {
  return {
    organizationId: tenant.organizationId,
    agentId,
    conversationId: `conv-${randomBytes(6).toString('hex')}`,
    owner,
    model: service.deps.modelCatalog.get('gpt-4.1-mini')!,
    resetDayOfMonthUtc: 1,
  };
}

/** Metered calls of two agents, identified users and visitors, paid and free, and adjustments. */
async function traffic(tenant: Tenant, calls: number) {
  const agents = [await agentOf(tenant, 'Alpha'), await agentOf(tenant, 'Beta')];
  const owners: MeterContext['owner'][] = [
    { kind: 'user', id: 'ada' },
    { kind: 'user', id: 'grace' },
    { kind: 'visitor', id: 'visitor-1' },
  ];
  const contexts = agents.flatMap((agentId) => owners.map((owner) => contextOf(tenant, agentId, owner)));
  await Promise.all(
    Array.from({ length: calls }, async (_, index) => {
      const context = contexts[index % contexts.length]!;
      const reservation = await reserve(service.deps, context, 5000);
      await settle(
        service.deps,
        context,
        reservation,
        settledCall(context, index % 7 === 0 ? 0 : 100 + index),
      );
    }),
  );
  await adjustCredits(service.deps, tenant.organizationId, {
    type: 'adjustment',
    amountMicros: 1_234_567,
    actor: 'user:finance',
    reason: 'Goodwill, "quoted", with a comma',
  });
  return agents;
}

async function everyPage(path: string, token: string) {
  const data: unknown[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const response = await service.call('GET', `${path}${cursor ? `${separator}cursor=${cursor}` : ''}`, {
      token,
    });
    expect(response.status, response.text).toBe(200);
    data.push(...response.body.data);
    cursor = response.body.nextCursor;
  } while (cursor);
  return data;
}

/** Every Redis value the history can rebuild: the balance and totals, each agent's period counters. */
async function counters(tenant: Tenant, agents: string[]) {
  const keys = service.deps.keys.organization(tenant.organizationId);
  const period = budgetPeriod(new Date(), 1).id;
  const perAgent = await Promise.all(
    agents.map(async (agentId) => ({
      spend: await service.deps.redis.hgetall(keys.agentSpend(agentId, period)),
      users: (await service.deps.redis.smembers(keys.agentUsers(agentId))).sort(),
    })),
  );
  return { credits: await service.deps.redis.hgetall(keys.credits), perAgent };
}

/** Every usage report of the organization, every page of the user rankings (pages of 1). */
async function usageReports(tenant: Tenant, agents: string[]) {
  const base = `/api/v1/organizations/${tenant.organizationId}`;
  const token = tenant.keys.billing;
  return {
    embeds: (await service.call('GET', `${base}/embed-usage`, { token })).body,
    agents: await Promise.all(
      agents.map(async (agentId) => ({
        usage: (await service.call('GET', `${base}/agents/${agentId}/usage`, { token })).body,
        users: await everyPage(`${base}/agents/${agentId}/usage/users?limit=1`, token),
      })),
    ),
  };
}

async function reconcile(...args: string[]) {
  let stdout = '';
  const code = await runReconcile(service.deps, args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stdout += text;
    },
  });
  return { code, stdout };
}

describe('history in PostgreSQL', () => {
  it('serves the ledger, CSV, LLM-call log and usage reports after Redis lost them, and rebuilds every counter exactly', async () => {
    const tenant = await service.createTenant();
    const agents = await traffic(tenant, 120);
    const base = `/api/v1/organizations/${tenant.organizationId}`;
    await service.drain();
    const keys = service.deps.keys.organization(tenant.organizationId);
    expect(await service.deps.redis.xlen(keys.historyOutbox)).toBe(0);

    const ledgerPath = `${base}/ai-credits/ledger?limit=7`;
    const csvPath = `${base}/ai-credits/ledger?format=csv`;
    const callPaths = agents.map((agentId) => `${base}/agents/${agentId}/usage/llm-calls?limit=9`);
    const ledger = await everyPage(ledgerPath, tenant.keys.billing);
    const csv = (await service.call('GET', csvPath, { token: tenant.keys.billing })).text;
    const calls = await Promise.all(callPaths.map((path) => everyPage(path, tenant.keys.viewer)));
    expect(ledger).toHaveLength(1 + 120 - Math.ceil(120 / 7) + 1);
    expect(calls.flat()).toHaveLength(120);
    const before = await counters(tenant, agents);
    const reports = await usageReports(tenant, agents);
    expect((await reconcile('--org', tenant.organizationId)).code).toBe(0);
    // The reports are complete: they add up the whole LLM-call log.
    const logged = calls.flat() as Array<{ agentId: string; costUsd: number; externalUserId: string | null }>;
    const micros = (list: typeof logged) =>
      list.reduce((sum, call) => sum + Math.round(call.costUsd * 1e6), 0);
    for (const [index, agentId] of agents.entries()) {
      const own = logged.filter((call) => call.agentId === agentId);
      const report = reports.agents[index]!;
      expect(Math.round(report.usage.spendUsd * 1e6)).toBe(micros(own));
      expect(Math.round(report.usage.anonymousSpendUsd * 1e6)).toBe(
        micros(own.filter((call) => call.externalUserId === null)),
      );
      expect(report.usage).toMatchObject({ llmCalls: own.length, users: 2, conversations: 3 });
      expect(report.users.map((user) => (user as { externalUserId: string }).externalUserId).sort()).toEqual([
        'ada',
        'grace',
      ]);
    }
    expect(Math.round(reports.embeds.totalSpendUsd * 1e6)).toBe(micros(logged));

    // Redis loses the history and the counters: the outbox, the balance, the period's counters.
    const period = budgetPeriod(new Date(), 1).id;
    await service.deps.redis.del(
      keys.historyOutbox,
      keys.credits,
      ...agents.flatMap((agentId) => [keys.agentSpend(agentId, period), keys.agentUsers(agentId)]),
    );

    expect(await usageReports(tenant, agents)).toEqual(reports);
    expect(await everyPage(ledgerPath, tenant.keys.billing)).toEqual(ledger);
    expect((await service.call('GET', csvPath, { token: tenant.keys.billing })).text).toBe(csv);
    expect(await Promise.all(callPaths.map((path) => everyPage(path, tenant.keys.viewer)))).toEqual(calls);

    const lost = await reconcile('--org', tenant.organizationId);
    expect(lost.code, lost.stdout).toBe(1);
    expect(lost.stdout).toContain('[balance_mismatch]');
    expect(lost.stdout).toContain('[counter_mismatch]');

    const rebuilt = await reconcile('--org', tenant.organizationId, '--rebuild');
    expect(rebuilt.code, rebuilt.stdout).toBe(0);
    expect(rebuilt.stdout).toContain(`Rebuilt ${tenant.organizationId}'s balance and counters`);
    expect(await counters(tenant, agents)).toEqual(before);
    // And the service goes on from there: the next call debits the restored balance.
    const context = contextOf(tenant, agents[0]!, { kind: 'user', id: 'ada' });
    await settle(service.deps, context, await reserve(service.deps, context, 100), settledCall(context, 50));
    expect(Number(await service.deps.redis.hget(keys.credits, 'balance'))).toBe(
      Number(before.credits.balance) - 50,
    );
    expect((await reconcile('--org', tenant.organizationId)).code).toBe(0);
  });

  it('leaves aside the report counters a period hash kept before the reports read PostgreSQL', async () => {
    const tenant = await service.createTenant();
    const [agentId] = await traffic(tenant, 12);
    await service.drain();
    const keys = service.deps.keys.organization(tenant.organizationId);
    const spend = keys.agentSpend(agentId!, budgetPeriod(new Date(), 1).id);
    const kept = await service.deps.redis.hgetall(spend);
    // What the settle script used to add for the usage reports alone.
    const day = new Date().toISOString().slice(0, 10);
    await service.deps.redis.hset(spend, { calls: '12', inputTokens: '120', [`d:${day}:spend`]: '1' });
    const report = await reconcile('--org', tenant.organizationId);
    expect(report.code, report.stdout).toBe(0);
    // A real difference in a cap's counter is still found.
    await service.deps.redis.hincrby(spend, 'agent', 1);
    expect((await reconcile('--org', tenant.organizationId)).stdout).toContain(
      `Agent ${agentId}'s agent counter`,
    );
    expect((await reconcile('--org', tenant.organizationId, '--rebuild')).code).toBe(0);
    expect(await service.deps.redis.hgetall(spend)).toEqual(kept);
  });

  it('counts the undrained tail: Redis and PostgreSQL agree at any drain lag', async () => {
    const tenant = await service.createTenant();
    await traffic(tenant, 30);
    // Nothing drained yet, then part of it: the reconcile adds what PostgreSQL lacks from the stream.
    const first = await reconcile('--org', tenant.organizationId, '--json');
    expect(first.code, first.stdout).toBe(0);
    expect(JSON.parse(first.stdout)[0].undrainedCount).toBeGreaterThan(0);
    const partial = createDrainer(service.deps, { batchSize: 7, consumer: 'partial' });
    const keys = service.deps.keys.organization(tenant.organizationId);
    await service.deps.redis
      .xgroup('CREATE', keys.historyOutbox, drainGroup, '0', 'MKSTREAM')
      .catch(() => {});
    const [[, entries]] = (await service.deps.redis.xreadgroup(
      'GROUP',
      drainGroup,
      'partial',
      'COUNT',
      7,
      'STREAMS',
      keys.historyOutbox,
      '>',
    )) as [[string, [string, string[]][]]];
    expect(entries).toHaveLength(7);
    // Written to PostgreSQL but not yet acknowledged (still in the stream): counted once.
    const { addEntry, emptyBatch } = await import('../src/domain/history/outbox.ts');
    const batch = emptyBatch();
    for (const [id, fields] of entries) addEntry(batch, tenant.organizationId, id, fields);
    await service.deps.history.write(batch);
    expect((await reconcile('--org', tenant.organizationId)).code).toBe(0);
    await partial.drainOnce({ reclaim: false });
    expect((await reconcile('--org', tenant.organizationId)).code).toBe(0);
  });
});

/** The history store of the service, with a crash injected around its write. */
function crashing(history: HistoryStore, when: 'before-write' | 'after-write'): HistoryStore {
  return {
    ...history,
    async write(batch) {
      if (when === 'after-write') await history.write(batch);
      throw new Error(
        `instance killed ${when === 'after-write' ? 'after writing, before the ack' : 'after reading'}`,
      );
    },
  };
}

describe('a drainer killed mid-way', () => {
  it('loses nothing and writes nothing twice when instances die between the settle and the ack', async () => {
    const tenant = await service.createTenant();
    const agents = await traffic(tenant, 90);
    const keys = service.deps.keys.organization(tenant.organizationId);
    const silent = { ...service.deps, logger: service.deps.logger.child({}, { level: 'silent' }) };

    // Instance A reads a batch and dies before writing it; instance B writes its batch and dies
    // before acknowledging it. Both leave their entries pending in the group.
    const a = createDrainer(
      { ...silent, history: crashing(service.deps.history, 'before-write') },
      {
        batchSize: 25,
        consumer: 'instance-a',
      },
    );
    const b = createDrainer(
      { ...silent, history: crashing(service.deps.history, 'after-write') },
      {
        batchSize: 25,
        consumer: 'instance-b',
      },
    );
    await expect(a.drainOnce({ reclaim: false })).rejects.toThrow('instance killed after reading');
    await expect(b.drainOnce({ reclaim: false })).rejects.toThrow('instance killed after writing');
    const pending = (await service.deps.redis.xpending(keys.historyOutbox, drainGroup)) as [
      number,
      ...unknown[],
    ];
    expect(pending[0]).toBe(50);

    // Two healthy instances share the rest and take over the dead ones' entries once idle.
    const c = createDrainer(service.deps, { batchSize: 10, consumer: 'instance-c', claimIdleMs: 0 });
    const d = createDrainer(service.deps, { batchSize: 10, consumer: 'instance-d', claimIdleMs: 0 });
    await Promise.all([c.drainOnce({ reclaim: true }), d.drainOnce({ reclaim: true })]);
    await c.drainOnce({ reclaim: true });

    expect(await service.deps.redis.xlen(keys.historyOutbox)).toBe(0);
    expect(((await service.deps.redis.xpending(keys.historyOutbox, drainGroup)) as [number])[0]).toBe(0);
    const rows = await service.deps.history.database.query<{ calls: number; distinct: number }>(
      'SELECT count(*)::int AS calls, count(DISTINCT id)::int AS distinct FROM llm_calls WHERE organization_id = $1',
      [tenant.organizationId],
    );
    expect(rows[0]).toEqual({ calls: 90, distinct: 90 });
    const usage = await service.deps.history.database.query<{ entries: number }>(
      "SELECT count(*)::int AS entries FROM ledger_entries WHERE organization_id = $1 AND type = 'usage'",
      [tenant.organizationId],
    );
    expect(usage[0]?.entries).toBe(90 - Math.ceil(90 / 7));
    const report = await reconcile('--org', tenant.organizationId);
    expect(report.code, report.stdout).toBe(0);
    expect(agents).toHaveLength(2);
  });
});
