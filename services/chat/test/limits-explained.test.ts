import { randomBytes } from 'node:crypto';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import {
  actingAs,
  createChatAgent,
  createIdentitySecret,
  createMcpServer,
  setAgentBudget,
  uniqueSlug,
} from '@mcpstack/test-support/tenants';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costBoundMicros, reserve } from '../src/domain/budgets/meter.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';
import { startTestMcpServer, type TestMcpServer } from './support/mcp-server.ts';

const origin = 'https://limits.example';
let model: LocalModel;
let mcp: TestMcpServer;
let service: TestService;
let tenant: Tenant;

interface Agent {
  agentId: string;
  publicKey: string;
  path: string;
}

async function agentWith(body: Record<string, unknown>): Promise<Agent> {
  const agent = await createChatAgent(service.call, actingAs(tenant, 'admin'), {
    agent: { name: 'Limits', model: 'gpt-4.1-mini', ...body },
    embedKey: { name: 'site', allowedOrigins: [origin] },
  });
  return { ...agent, path: `/api/v1/organizations/${tenant.organizationId}/agents/${agent.agentId}` };
}

/** The test MCP server, registered under a slug of its own. */
const shopServer = () =>
  createMcpServer(service.call, actingAs(tenant, 'admin'), {
    name: 'Shop',
    slug: uniqueSlug('shop'),
    url: mcp.url,
  });

const setBudget = (agent: Agent, body: Record<string, unknown>) =>
  setAgentBudget(service.call, actingAs(tenant, 'admin'), agent.agentId, body);

async function chat(
  agent: Agent,
  text: string,
  options: { visitorId?: string; userToken?: string; from?: string } = {},
) {
  const response = await fetch(`${service.url}/api/v1/chat`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${agent.publicKey}`,
      origin: options.from ?? origin,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      id: `conv-${randomBytes(8).toString('hex')}`,
      messages: [{ id: 'msg-1', role: 'user', parts: [{ type: 'text', text }] }],
      visitorId: options.visitorId ?? `visitor-${randomBytes(6).toString('hex')}`,
      ...(options.userToken ? { userToken: options.userToken } : {}),
    }),
  });
  const body = await response.text();
  const chunks = body
    .split('\n\n')
    .filter((event) => event.startsWith('data: {'))
    .map((event) => JSON.parse(event.slice(6)) as Record<string, unknown>);
  // biome-ignore lint/suspicious/noExplicitAny: each test asserts the fields it reads
  const error = (): any => JSON.parse(body).error;
  return { status: response.status, chunks, error };
}

async function signer(agent: Agent) {
  const secret = await createIdentitySecret(service.call, actingAs(tenant, 'admin'), agent.agentId);
  return (sub: string) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setAudience(agent.agentId)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(secret));
}

beforeAll(async () => {
  model = await startLocalModel();
  mcp = await startTestMcpServer({ failingTool: true });
  service = await startTestService({ OPENAI_BASE_URL: model.url });
  tenant = await service.createTenant();
});

afterAll(async () => {
  await service?.stop();
  await mcp?.stop();
  await model?.close();
});

describe('refusals that explain themselves', () => {
  it('a spent cap: 402 with limitSource, resetsAt, retryAfterSeconds and a remedy; a message larger than the cap says so', async () => {
    const agent = await agentWith({});
    await setBudget(agent, { enabled: true, monthlyBudgetUsd: 0.000001 });
    const larger = await chat(agent, 'Hello');
    expect(larger.status).toBe(402);
    expect(larger.error()).toMatchObject({
      code: 'budget_exceeded',
      limitSource: 'agent',
      reason: 'message_larger_than_cap',
      retryable: false,
      remedy: expect.stringContaining('maxOutputTokens'),
    });
    expect(larger.error().retryAfterSeconds).toBeUndefined();

    const anonymous = await agentWith({ maxOutputTokens: 16 });
    await setBudget(anonymous, { enabled: true, monthlyBudgetUsd: 10, anonymousMonthlyBudgetUsd: 0.0004 });
    // Answers spend the pool (each holds less than the pool) until what is left cannot pay for one.
    let refused: Awaited<ReturnType<typeof chat>> | null = null;
    for (let attempt = 0; attempt < 20 && !refused; attempt++) {
      const answer = await chat(anonymous, 'Hi');
      if (answer.status !== 200) refused = answer;
    }
    expect(refused?.status).toBe(402);
    const error = refused?.error();
    expect(error).toMatchObject({
      code: 'budget_exceeded',
      limitSource: 'anonymous',
      reason: 'cap_reached',
      retryable: true,
      resetsAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T00:00:00\.000Z$/),
      remedy: expect.stringContaining('anonymousMonthlyBudgetUsd'),
    });
    const wait = (Date.parse(error.resetsAt) - Date.now()) / 1000;
    expect(Math.abs(error.retryAfterSeconds - wait)).toBeLessThan(60);
  });

  it('answers in flight holding the cap: 429 budget_busy, limitSource in_flight, retry in seconds', async () => {
    const agent = await agentWith({});
    await setBudget(agent, { enabled: true, monthlyBudgetUsd: 1 });
    // An answer in flight holds almost all of the cap (a hold made as the chat turn makes it).
    await reserve(
      service.deps,
      {
        organizationId: tenant.organizationId,
        agentId: agent.agentId,
        conversationId: 'conv-holding',
        owner: { kind: 'visitor', id: 'visitor-holding' },
        model: service.deps.modelCatalog.get('gpt-4.1-mini') as never,
        resetDayOfMonthUtc: 1,
      },
      999_000,
    );
    const busy = await chat(agent, 'Hello');
    expect(busy.status).toBe(429);
    expect(busy.error()).toMatchObject({
      code: 'budget_busy',
      limitSource: 'in_flight',
      reason: 'answers_in_flight',
      retryable: true,
      retryAfterSeconds: 2,
      remedy: expect.any(String),
    });
  });

  it('rate and origin refusals name their limit and remedy', async () => {
    const agent = await agentWith({ rateLimits: { visitorPerMinute: 1 } });
    const visitorId = `visitor-${randomBytes(6).toString('hex')}`;
    expect((await chat(agent, 'Hello', { visitorId })).status).toBe(200);
    const limited = await chat(agent, 'Again', { visitorId });
    expect(limited.status).toBe(429);
    expect(limited.error()).toMatchObject({
      code: 'rate_limited',
      limitSource: 'rate',
      retryable: true,
      retryAfterSeconds: expect.any(Number),
      remedy: expect.stringContaining('visitorPerMinute'),
    });
    const elsewhere = await chat(agent, 'Hello', { from: 'https://other.example' });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.error()).toMatchObject({
      code: 'origin_not_allowed',
      limitSource: 'origin',
      retryable: false,
      remedy: expect.stringContaining('allowedOrigins'),
    });
  });
});

describe('the budget meter', () => {
  it("carries a signed user's meter in each answer's finish, and GET /api/v1/chat/budget the same; a guest sees only the share left", async () => {
    const agent = await agentWith({ showUsageToUsers: true, budgetAlertThresholds: [80, 50] });
    expect((await service.call('GET', agent.path, { token: tenant.keys.admin })).body).toMatchObject({
      showUsageToUsers: true,
      budgetAlertThresholds: [50, 80],
      maxConsecutiveToolFailures: 3,
    });
    await setBudget(agent, {
      enabled: true,
      monthlyBudgetUsd: 5,
      defaultUserBudgetUsd: 1,
      anonymousMonthlyBudgetUsd: 2,
    });
    const sign = await signer(agent);
    const token = await sign('erin');
    const answered = await chat(agent, 'Hello', { userToken: token });
    expect(answered.status).toBe(200);
    const finish = answered.chunks.find((chunk) => chunk.type === 'finish') as {
      messageMetadata: { budget: Record<string, number | string> };
    };
    const budget = finish.messageMetadata.budget;
    expect(budget).toMatchObject({ scope: 'user', limitUsd: 1, warnAtPercent: [50, 80] });
    expect(budget.spentUsd).toBeGreaterThan(0);
    expect(Number(budget.remainingUsd) + Number(budget.spentUsd)).toBeCloseTo(1, 6);
    const spend = await service.call('GET', `${agent.path}/external-users/erin/budget`, {
      token: tenant.keys.admin,
    });
    expect(budget.spentUsd).toBe(spend.body.currentMonthSpendUsd);
    expect(budget.resetsAt).toBe(spend.body.resetsAt);

    const read = (headers: Record<string, string>, visitorId = 'visitor-meter') =>
      fetch(`${service.url}/api/v1/chat/budget?visitorId=${visitorId}`, {
        headers: { authorization: `Bearer ${agent.publicKey}`, origin, ...headers },
        // biome-ignore lint/suspicious/noExplicitAny: the test asserts the fields it reads
      }).then((response) => response.json() as Promise<any>);
    expect((await read({ 'x-mcpstack-user-token': token })).budget).toEqual(budget);
    // A guest: the guest pool's share left, and no USD figure of anyone.
    const guest = (await read({})).budget;
    expect(guest).toMatchObject({ scope: 'anonymous', limitUsd: null, spentUsd: null, remainingUsd: null });
    expect(guest.remainingPercent).toBeLessThanOrEqual(100);
  });
});

describe('answers that stop early', () => {
  it('stops a tool loop after the agent’s maxConsecutiveToolFailures, with a typed part and the partial answer kept', async () => {
    const serverId = await shopServer();
    const agent = await agentWith({
      mcpServerIds: [serverId],
      maxSteps: 10,
      maxConsecutiveToolFailures: 2,
    });
    const before = model.requests.length;
    const answer = await chat(agent, '[retry-tools] Please cancel order C-3003');
    expect(answer.status).toBe(200);
    const types = answer.chunks.map((chunk) => chunk.type);
    expect(types.filter((type) => type === 'tool-output-error')).toHaveLength(2);
    expect(answer.chunks.find((chunk) => chunk.type === 'data-tool-failures')).toMatchObject({
      data: {
        toolName: 'cancel_order',
        failures: 2,
        message: expect.stringContaining('failed 2 times in a row'),
      },
    });
    expect(types.at(-1)).toBe('finish');
    expect(answer.chunks.at(-1)).toMatchObject({ finishReason: 'other' });
    // Two model calls, not ten.
    expect(model.requests.length - before).toBe(2);
  });

  it('ends the answer with a data-budget part when a later step cannot reserve, and keeps what was said', async () => {
    const agent = await agentWith({ mcpServerIds: [await shopServer()], maxSteps: 5, maxOutputTokens: 64 });
    // The cap pays for the first step's hold, not for the second's (its prompt carries the tool call
    // and result): the first answer's first request, bounded as the meter bounds it, tells the hold.
    const before = model.requests.length;
    const first = await chat(agent, 'What is the status of order A-1001?');
    expect(first.status).toBe(200);
    const firstBytes = Buffer.byteLength(JSON.stringify(model.requests[before]?.body), 'utf8');
    const hold = costBoundMicros(service.deps.modelCatalog.get('gpt-4.1-mini') as never, firstBytes, 64);
    const keys = service.deps.keys.organization(tenant.organizationId);
    const periods = await service.deps.redis.keys(`${keys.agentSpend(agent.agentId, '')}*`);
    const spent = Number(await service.deps.redis.hget(periods[0] as string, 'agent'));
    await setBudget(agent, { enabled: true, monthlyBudgetUsd: (spent + hold + 40) / 1_000_000 });
    const cut = await chat(agent, 'What is the status of order A-1001?');
    expect(cut.status, JSON.stringify(cut.chunks)).toBe(200);
    const part = cut.chunks.find((chunk) => chunk.type === 'data-budget') as
      | { data: Record<string, unknown> }
      | undefined;
    expect(part?.data).toMatchObject({ code: 'budget_exceeded', limitSource: 'agent' });
    expect(cut.chunks.some((chunk) => chunk.type === 'tool-output-available')).toBe(true);
    expect(cut.chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'other' });
  });
});
