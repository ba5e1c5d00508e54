import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MeterContext, reserve, settle } from '../src/domain/budgets/meter.ts';
import { budgetPeriod } from '../src/domain/budgets/periods.ts';
import { agentUsageView, embedUsageView, userUsagePage } from '../src/http/routes/budgets.ts';
import type { Database } from '../src/storage/database/database.ts';
import { createHistoryStore } from '../src/storage/database/history-store.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';
import { settledCall } from './support/llm-calls.ts';

// The service's clock is this test's: each call is metered at the moment it names, as if it ran
// then, so periods and days are laid out exactly. No drainer of its own: reads follow `drain()`.
let now = new Date();
let service: TestService;

beforeAll(async () => {
  service = await startTestService(
    { MCPSTACK_FREE_CREDITS_USD: '100', MCPSTACK_HISTORY_DRAIN: 'false' },
    { clock: { now: () => now } },
  );
});

beforeEach(() => {
  now = new Date();
});

afterAll(async () => {
  await service?.stop();
});

const day = 86_400_000;
const at = (from: Date, milliseconds: number) => new Date(from.getTime() + milliseconds);

/** One metered call as the test lays it out, and as the reports must count it. */
interface Call {
  agentId: string;
  owner: MeterContext['owner'];
  conversationId: string;
  costMicros: number;
  at: Date;
}

async function agentOf(tenant: Tenant, name: string, resetDayOfMonthUtc = 1) {
  const base = `/api/v1/organizations/${tenant.organizationId}/agents`;
  const agent = await service.call('POST', base, {
    token: tenant.keys.admin,
    body: { name, model: 'gpt-4.1-mini' },
  });
  expect(agent.status, agent.text).toBe(201);
  const budget = await service.call('PATCH', `${base}/${agent.body.id}/budget`, {
    token: tenant.keys.admin,
    body: { resetDayOfMonthUtc, defaultUserBudgetUsd: 1 },
  });
  expect(budget.status, budget.text).toBe(200);
  return { id: agent.body.id as string, resetDayOfMonthUtc };
}

/** Reserves and settles each call at its own moment (the settled call's settledCall records 10 in, 5 out). */
async function meter(
  tenant: Tenant,
  agents: Array<{ id: string; resetDayOfMonthUtc: number }>,
  calls: Call[],
) {
  const saved = now;
  for (const call of calls) {
    now = call.at;
    const context: MeterContext = {
      organizationId: tenant.organizationId,
      agentId: call.agentId,
      conversationId: call.conversationId,
      owner: call.owner,
      model: service.deps.modelCatalog.get('gpt-4.1-mini')!,
      resetDayOfMonthUtc: agents.find((agent) => agent.id === call.agentId)!.resetDayOfMonthUtc,
    };
    const hold = await reserve(service.deps, context, 5000);
    const outcome = await settle(service.deps, context, hold, settledCall(context, call.costMicros, call.at));
    expect(outcome.status).toBe('ok');
  }
  now = saved;
}

/** What the reports must say of `calls` over [start, end): computed here, from the calls alone. */
function expected(calls: Call[], agentId: string, start: Date, end: Date) {
  const own = calls.filter((call) => call.agentId === agentId && call.at >= start && call.at < end);
  const sum = (list: Call[]) => list.reduce((total, call) => total + call.costMicros, 0) / 1e6;
  const days = new Map<string, Call[]>();
  for (const call of own) {
    const date = call.at.toISOString().slice(0, 10);
    days.set(date, [...(days.get(date) ?? []), call]);
  }
  return {
    agentId,
    periodStart: start.toISOString(),
    periodEnd: end.toISOString(),
    spendUsd: sum(own),
    anonymousSpendUsd: sum(own.filter((call) => call.owner.kind === 'visitor')),
    llmCalls: own.length,
    inputTokens: 10 * own.length,
    outputTokens: 5 * own.length,
    conversations: new Set(own.map((call) => call.conversationId)).size,
    users: new Set(own.filter((call) => call.owner.kind === 'user').map((call) => call.owner.id)).size,
    byDay: [...days.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([date, list]) => ({ date, spendUsd: sum(list), llmCalls: list.length })),
  };
}

/** A report as the API answers it, checked against the schema the OpenAPI document publishes. */
async function report<T>(path: string, token: string, schema: { parse(value: unknown): T }) {
  const response = await service.call('GET', path, { token });
  expect(response.status, response.text).toBe(200);
  // Parsing strips what the schema does not name: equal only if the answer is exactly documented.
  expect(schema.parse(response.body)).toEqual(response.body);
  return response.body as T;
}

const user = (id: string): MeterContext['owner'] => ({ kind: 'user', id });
const visitor = (id: string): MeterContext['owner'] => ({ kind: 'visitor', id });

describe('usage reports from PostgreSQL', () => {
  it('adds up several agents, users, conversations and days of the period, once drained', async () => {
    const tenant = await service.createTenant();
    const alpha = await agentOf(tenant, 'Alpha');
    const beta = await agentOf(tenant, 'Beta');
    const idle = await agentOf(tenant, 'Idle');
    const period = budgetPeriod(now, 1);
    const calls: Call[] = [];
    const add = (
      agentId: string,
      owner: MeterContext['owner'],
      conversationId: string,
      costMicros: number,
      time: Date,
    ) => calls.push({ agentId, owner, conversationId, costMicros, at: time });
    // Three days of the period (the clock moves to each), free calls among them.
    for (const [offset, costs] of [
      [0, [120, 0, 340]],
      [2 * day + 3_600_000, [75, 910]],
      [5 * day + 23 * 3_600_000, [0, 4999, 18]],
    ] as const) {
      const time = at(period.start, offset);
      costs.forEach((cost, index) => {
        add(alpha.id, user(index % 2 === 0 ? 'ada' : 'grace'), `conv-a-${offset}-${index % 2}`, cost, time);
        add(alpha.id, visitor('visitor-1'), 'conv-a-visitor', cost + 1, at(time, index + 1));
        add(beta.id, user('ada'), `conv-b-${index}`, Math.floor(cost / 2), at(time, 60_000 * index));
      });
    }
    await meter(tenant, [alpha, beta, idle], calls);
    now = at(period.start, 6 * day);
    const base = `/api/v1/organizations/${tenant.organizationId}`;
    const token = tenant.keys.billing;

    // Not drained yet: the reports do not see the calls (the drain lag, well under a second when
    // the drainer runs); the caps do, from Redis.
    const early = await report(`${base}/agents/${alpha.id}/usage`, token, agentUsageView);
    expect(early).toMatchObject({ llmCalls: 0, spendUsd: 0, byDay: [] });
    await service.drain();

    for (const agent of [alpha, beta, idle]) {
      const usage = await report(`${base}/agents/${agent.id}/usage`, token, agentUsageView);
      expect(usage).toEqual(expected(calls, agent.id, period.start, period.end));
      // The report and the cap's counter agree to the micro-dollar.
      const budget = await service.call('GET', `${base}/agents/${agent.id}/budget`, {
        token: tenant.keys.admin,
      });
      expect(budget.body.currentMonthSpendUsd).toBe(usage.spendUsd);
    }
    expect((await report(`${base}/agents/${alpha.id}/usage`, token, agentUsageView)).byDay).toHaveLength(3);

    const embeds = await report(`${base}/embed-usage`, token, embedUsageView);
    const names = new Map([
      [alpha.id, 'Alpha'],
      [beta.id, 'Beta'],
      [idle.id, 'Idle'],
    ]);
    expect(embeds.data.map((entry) => entry.agentId).sort()).toEqual([...names.keys()].sort());
    for (const entry of embeds.data) {
      const { byDay: _byDay, ...totals } = expected(calls, entry.agentId, period.start, period.end);
      expect(entry).toEqual({ agentName: names.get(entry.agentId), ...totals });
    }
    expect(Math.round(embeds.totalSpendUsd * 1e6)).toBe(
      calls.reduce((sum, call) => sum + call.costMicros, 0),
    );

    // Redis keeps only what the caps read: the spend of the agent, each user and the anonymous pool.
    const keys = service.deps.keys.organization(tenant.organizationId);
    const spend = await service.deps.redis.hgetall(keys.agentSpend(alpha.id, period.id));
    expect(Object.keys(spend).sort()).toEqual(['agent', 'anon', 'u:ada', 'u:grace']);
    const agentKey = keys.entity('agent', alpha.id);
    const agentKeys = await service.deps.redis.keys(`${agentKey}*`);
    expect(agentKeys.map((key) => key.slice(agentKey.length)).sort()).toEqual([
      '',
      ':budget',
      `:spend:${period.id}`,
      ':users',
    ]);
  });

  it("counts the calls created in [periodStart, periodEnd) of the agent's reset day, by UTC day", async () => {
    const tenant = await service.createTenant();
    const fifteenth = await agentOf(tenant, 'Fifteenth', 15);
    const first = await agentOf(tenant, 'First', 1);
    const period = budgetPeriod(now, 15);
    const previous = budgetPeriod(at(period.start, -1), 15);
    const next = budgetPeriod(period.end, 15);
    const calls: Call[] = [
      at(period.start, -1),
      period.start,
      at(period.start, day - 1),
      at(period.start, day),
      at(period.end, -1),
      period.end,
    ].flatMap((time, index) => [
      {
        agentId: fifteenth.id,
        owner: user(`user-${index}`),
        conversationId: `conv-${index}`,
        costMicros: 100 + index,
        at: time,
      },
      {
        agentId: first.id,
        owner: visitor('visitor-1'),
        conversationId: `conv-first-${index}`,
        costMicros: 1000 + index,
        at: time,
      },
    ]);
    await meter(tenant, [fifteenth, first], calls);
    await service.drain();
    const base = `/api/v1/organizations/${tenant.organizationId}`;
    const token = tenant.keys.billing;

    for (const [moment, shown] of [
      [at(period.start, 3 * day), period],
      [at(period.start, -1), previous],
      [period.end, next],
    ] as const) {
      now = moment;
      const usage = await report(`${base}/agents/${fifteenth.id}/usage`, token, agentUsageView);
      expect(usage).toEqual(expected(calls, fifteenth.id, shown.start, shown.end));
      const budget = await service.call('GET', `${base}/agents/${fifteenth.id}/budget`, {
        token: tenant.keys.admin,
      });
      expect(budget.body.currentMonthSpendUsd).toBe(usage.spendUsd);
      const ranking = await report(`${base}/agents/${fifteenth.id}/usage/users`, token, userUsagePage);
      expect(ranking.periodStart).toBe(shown.start.toISOString());
      const users = calls.filter(
        (call) => call.agentId === fifteenth.id && call.at >= shown.start && call.at < shown.end,
      );
      expect(ranking.data.map((row) => row.externalUserId).sort()).toEqual(
        users.map((call) => call.owner.id).sort(),
      );
      // Each agent over its own period in the overview.
      const embeds = await report(`${base}/embed-usage`, token, embedUsageView);
      for (const [agent, agentPeriod] of [
        [fifteenth, shown],
        [first, budgetPeriod(moment, 1)],
      ] as const) {
        const { byDay: _byDay, ...totals } = expected(calls, agent.id, agentPeriod.start, agentPeriod.end);
        expect(embeds.data.find((entry) => entry.agentId === agent.id)).toMatchObject(totals);
      }
    }
    now = at(period.start, 3 * day);
    const usage = await report(`${base}/agents/${fifteenth.id}/usage`, token, agentUsageView);
    expect(usage.llmCalls).toBe(4);
    expect(usage.byDay.map((row) => [row.date, row.llmCalls])).toEqual([
      [period.start.toISOString().slice(0, 10), 2],
      [at(period.start, day).toISOString().slice(0, 10), 1],
      [at(period.end, -1).toISOString().slice(0, 10), 1],
    ]);
  });

  it('ranks identified users by spend in keyset pages that never repeat a user', async () => {
    const tenant = await service.createTenant();
    const agent = await agentOf(tenant, 'Ranked');
    const base = `/api/v1/organizations/${tenant.organizationId}/agents/${agent.id}`;
    const override = await service.call('PUT', `${base}/external-users/user-03/budget`, {
      token: tenant.keys.admin,
      body: { monthlyBudgetUsd: 0.002 },
    });
    expect(override.status, override.text).toBe(200);
    // Twelve users, ties among them (ids decide), one with free calls only, and anonymous spend
    // (never ranked). Ids with characters a URL must escape: the cursor is opaque.
    const spends = [900, 450, 450, 3000, 0, 1200, 450, 75, 2999, 10, 1200, 600];
    const ids = spends.map(
      (_, index) => `user-${String(index).padStart(2, '0')}${index === 7 ? '&=+/ é' : ''}`,
    );
    const time = new Date();
    const calls: Call[] = spends.flatMap((spend, index) => {
      const half = Math.floor(spend / 2);
      return [
        {
          agentId: agent.id,
          owner: user(ids[index]!),
          conversationId: `c-${index}`,
          costMicros: half,
          at: time,
        },
        {
          agentId: agent.id,
          owner: user(ids[index]!),
          conversationId: `c-${index}`,
          costMicros: spend - half,
          at: time,
        },
      ];
    });
    calls.push({ agentId: agent.id, owner: visitor('v'), conversationId: 'c-v', costMicros: 5000, at: time });
    await meter(tenant, [agent], calls);
    await service.drain();
    const ranked = ids
      .map((id, index) => ({ id, spend: spends[index]! }))
      .sort((a, b) => b.spend - a.spend || (Buffer.compare(Buffer.from(a.id), Buffer.from(b.id)) as number));

    const token = tenant.keys.billing;
    const walk = async (cursor: string | null, limit = 5) => {
      const pages: Array<{
        data: Array<{ externalUserId: string; spendUsd: number }>;
        nextCursor: string | null;
      }> = [];
      do {
        const query = `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await report(`${base}/usage/users${query}`, token, userUsagePage);
        pages.push(page);
        cursor = page.nextCursor;
      } while (cursor);
      return pages;
    };
    const pages = await walk(null);
    expect(pages.map((page) => page.data.length)).toEqual([5, 5, 2]);
    const rows = pages.flatMap((page) => page.data);
    expect(rows.map((row) => [row.externalUserId, Math.round(row.spendUsd * 1e6)])).toEqual(
      ranked.map((row) => [row.id, row.spend]),
    );
    expect(rows.find((row) => row.externalUserId === 'user-03')).toEqual({
      externalUserId: 'user-03',
      spendUsd: 0.003,
      monthlyBudgetUsd: 0.002,
      remainingBudgetUsd: 0,
      budgetSource: 'override',
    });
    expect(rows.find((row) => row.externalUserId === 'user-00')).toMatchObject({
      budgetSource: 'default',
      monthlyBudgetUsd: 1,
      remainingBudgetUsd: 0.9991,
    });

    // The overrides list shows the same spend, from the counter the user's cap is checked on.
    const overrides = await service.call('GET', `${base}/external-users/budgets`, {
      token: tenant.keys.viewer,
    });
    expect(overrides.body.data).toEqual([
      {
        externalUserId: 'user-03',
        monthlyBudgetUsd: 0.002,
        currentMonthSpendUsd: 0.003,
        remainingBudgetUsd: 0,
        status: 'over',
      },
    ]);

    // Spends move between two pages: the 10th user climbs to the top. The next page starts after
    // the last user seen, so nobody shows twice (an offset would repeat the 5th).
    const [first] = await walk(null, 5).then((all) => all.slice(0, 1));
    const climber = ranked[9]!.id;
    await meter(
      tenant,
      [agent],
      [{ agentId: agent.id, owner: user(climber), conversationId: 'c-climb', costMicros: 4000, at: time }],
    );
    await service.drain();
    const rest = (await walk(first!.nextCursor)).flatMap((page) =>
      page.data.map((row) => row.externalUserId),
    );
    const seen = [...first!.data.map((row) => row.externalUserId), ...rest];
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual(
      ranked
        .map((row) => row.id)
        .filter((id) => id !== climber)
        .sort(),
    );

    for (const cursor of ['not*base64', Buffer.from('12:').toString('base64url'), 'x'.repeat(1001)]) {
      const refused = await service.call('GET', `${base}/usage/users?cursor=${cursor}`, { token });
      expect(refused.status, cursor).toBe(400);
      expect(refused.body.error.code).toBe('validation_failed');
    }
  });

  it("reads only the partitions of the report's period, through the usage index", async () => {
    // The store's own SQL, explained: a database that answers each usage query with its plan.
    const database = service.deps.history.database;
    const plans: unknown[] = [];
    let explaining = false;
    const explained: Database = {
      ...database,
      query: async <Row>(text: string, params?: readonly unknown[]) => {
        if (!explaining) return database.query<Row>(text, params);
        const [row] = await database.query<{ 'QUERY PLAN': unknown }>(
          `EXPLAIN (FORMAT JSON) ${text}`,
          params,
        );
        plans.push(row?.['QUERY PLAN']);
        return [] as Row[];
      },
    };
    const store = createHistoryStore(explained);
    await store.ready();
    const year = new Date().getUTCFullYear() + 2;
    for (const month of [1, 2, 3, 4]) {
      const from = new Date(Date.UTC(year, month - 1, 1)).toISOString();
      const to = new Date(Date.UTC(year, month, 1)).toISOString();
      await database.exec(
        `CREATE TABLE IF NOT EXISTS llm_calls_p${year}_0${month} PARTITION OF llm_calls FOR VALUES FROM ('${from}') TO ('${to}')`,
      );
    }
    // Four months of calls, one in twenty the reported agent's, with statistics as autovacuum
    // keeps them: the planner's own choice is asked, nothing forced.
    const start = new Date(Date.UTC(year, 0, 1)).toISOString();
    await database.exec(
      `INSERT INTO llm_calls (id, organization_id, agent_id, conversation_id, external_user_id, model, step_number,
         status, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, usage_estimated, cost_micros,
         reported_cost_micros, overage_micros, settled_by, latency_ms, tool_calls, created_at, finished_at,
         budget_period, outbox_ms, outbox_seq)
       SELECT 'call_plan' || g, 'org_plan', CASE WHEN g % 20 = 0 THEN 'agent_plan' ELSE 'agent_other' || g % 7 END,
         'conv_' || g / 5, CASE WHEN g % 3 = 0 THEN NULL ELSE 'user-' || g % 40 END, 'gpt-4.1-mini', 0, 'ok',
         10, 0, 5, 0, false, g % 97, g % 97, 0, 'stream', 1, '[]', created, created, '${start.slice(0, 10)}', g, 0
       FROM generate_series(1, 8000) AS g, LATERAL (SELECT '${start}'::timestamptz + g * interval '21 minutes' AS created) AS t`,
    );
    await database.exec(
      `VACUUM ANALYZE ${[1, 2, 3, 4].map((month) => `llm_calls_p${year}_0${month}`).join(', ')}`,
    );
    const range = { from: new Date(Date.UTC(year, 1, 15)), to: new Date(Date.UTC(year, 2, 15)) };
    explaining = true;
    await store.usageTotals('org_plan', ['agent_plan'], range);
    await store.usageByDay('org_plan', 'agent_plan', range);
    await store.userSpendRanking('org_plan', 'agent_plan', range, { limit: 10 });
    await store.userSpendRanking('org_plan', 'agent_plan', range, {
      limit: 10,
      after: { spendMicros: 5, externalUserId: 'ada' },
    });
    explaining = false;

    const usageIndexes = new Set(
      (
        await database.query<{ name: string }>(
          `SELECT child.relname AS name FROM pg_inherits
           JOIN pg_class child ON child.oid = pg_inherits.inhrelid
           JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
           WHERE parent.relname = 'llm_calls_usage'`,
        )
      ).map((row) => row.name),
    );
    expect(plans).toHaveLength(4);
    for (const plan of plans) {
      const scans: Array<{ type: string; relation: string; index?: string }> = [];
      const walk = (node: Record<string, unknown>) => {
        if (typeof node['Relation Name'] === 'string')
          scans.push({
            type: String(node['Node Type']),
            relation: node['Relation Name'],
            index: node['Index Name'] as string | undefined,
          });
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
      };
      walk((plan as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan);
      expect(scans.map((scan) => scan.relation).sort()).toEqual([
        `llm_calls_p${year}_02`,
        `llm_calls_p${year}_03`,
      ]);
      for (const scan of scans) {
        expect(scan.type).toBe('Index Only Scan');
        expect(usageIndexes.has(scan.index ?? '')).toBe(true);
      }
    }
    for (const month of [1, 2, 3, 4]) await database.exec(`DROP TABLE llm_calls_p${year}_0${month}`);
  });
});
