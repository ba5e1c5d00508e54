/**
 * A warm anonymous turn makes one Redis round trip before its model call: the admission script and,
 * in the same write, the history append and the first hold (both gated on the admission's stream
 * lease: lib/admission-gate.lua) and the reads. These tests hold the gate to its word: a refused
 * admission leaves nothing behind, a Redis that lost its scripts still answers once, and what the
 * process remembered of the agent is checked against what admission read.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { actingAs, createChatAgent, createMcpServer } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';
import { startTestMcpServer, type TestMcpServer } from './support/mcp-server.ts';

const origin = 'https://round-trip.example';

let model: LocalModel;
let mcp: TestMcpServer;
let service: TestService;
let tenant: Tenant;

const id = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

interface Agent {
  agentId: string;
  publicKey: string;
}

async function newAgent(body: Record<string, unknown> = {}): Promise<Agent> {
  return createChatAgent(service.call, actingAs(tenant, 'admin'), {
    agent: { name: 'Round trip', model: 'gpt-4.1-mini', instructions: 'Answer briefly.', ...body },
    embedKey: { name: 'site', allowedOrigins: [origin] },
  });
}

const agentPath = (agent: Agent) => `/api/v1/organizations/${tenant.organizationId}/agents/${agent.agentId}`;

/** One chat turn read to its end: status, body text. */
async function chat(agent: Agent, text: string, ids: { visitorId?: string; conversationId?: string } = {}) {
  const response = await fetch(`${service.url}/api/v1/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${agent.publicKey}`, origin },
    body: JSON.stringify({
      id: ids.conversationId ?? id('conv'),
      visitorId: ids.visitorId ?? id('visitor'),
      messages: [{ id: id('msg'), role: 'user', parts: [{ type: 'text', text }] }],
    }),
  });
  return { status: response.status, text: await response.text() };
}

const keys = () => service.deps.keys.organization(tenant.organizationId);

/** What the organization holds for answers in flight: every reserved field and the open holds. */
async function holds() {
  const reserved = await service.deps.redis.hgetall(keys().budgetReserved);
  return {
    reservedMicros: Object.values(reserved).reduce((sum, value) => sum + Number(value), 0),
    open: await service.deps.redis.zcard(keys().budgetReservations),
  };
}

/**
 * Counts the writes on the service's Redis connection that carry `marker` (the turn's visitor or
 * conversation id) from now until the model receives its request: the turn's round trips before
 * its model call (auto-pipelining writes each batch at once).
 */
function countWritesBeforeModel(markers: string[]): { result(): number | null; stop(): void } {
  const socket = (service.deps.redis as unknown as { stream: Socket }).stream;
  const write = socket.write;
  let writes = 0;
  let atModel: number | null = null;
  socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('latin1') : '';
    if (markers.some((marker) => text.includes(marker))) writes += 1;
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof socket.write;
  const requests = model.requests;
  const push = requests.push;
  requests.push = (...items) => {
    atModel ??= writes;
    return push.apply(requests, items);
  };
  return {
    result: () => atModel,
    stop() {
      socket.write = write;
      requests.push = push;
    },
  };
}

beforeAll(async () => {
  model = await startLocalModel();
  mcp = await startTestMcpServer();
  service = await startTestService({ OPENAI_BASE_URL: model.url });
  tenant = await service.createTenant();
});

afterAll(async () => {
  await service?.stop();
  await mcp?.stop();
  await model?.close();
});

describe('a warm anonymous turn', () => {
  it('makes one Redis round trip before its model call (three while the process has not seen the agent)', async () => {
    const agent = await newAgent();
    await service.call('PUT', `${agentPath(agent)}/budget`, {
      token: tenant.keys.admin,
      body: { enabled: true, monthlyBudgetUsd: 5 },
    });
    const rounds: (number | null)[] = [];
    for (let turn = 0; turn < 3; turn += 1) {
      const visitorId = id('visitor');
      const conversationId = id('conv');
      const counting = countWritesBeforeModel([visitorId, conversationId]);
      try {
        expect((await chat(agent, 'Hello there', { visitorId, conversationId })).status).toBe(200);
      } finally {
        counting.stop();
      }
      rounds.push(counting.result());
    }
    expect(rounds).toEqual([3, 1, 1]);
    expect(await holds()).toEqual({ reservedMicros: 0, open: 0 });
  });

  it('stores nothing and holds nothing when its admission refuses (rate limited, key revoked)', async () => {
    const agent = await newAgent({ rateLimits: { visitorPerMinute: 1 } });
    await service.call('PUT', `${agentPath(agent)}/budget`, {
      token: tenant.keys.admin,
      body: { enabled: true, monthlyBudgetUsd: 5 },
    });
    const visitorId = id('visitor');
    // The process now knows the agent: the next turns go out behind their admission.
    expect((await chat(agent, 'Hello', { visitorId })).status).toBe(200);

    const limited = id('conv');
    const refused = await chat(agent, 'Hello again', { visitorId, conversationId: limited });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text).error.code).toBe('rate_limited');
    expect(await service.deps.redis.exists(keys().conversation(limited))).toBe(0);
    expect(await service.deps.redis.llen(keys().conversationMessages(limited))).toBe(0);
    expect(await holds()).toEqual({ reservedMicros: 0, open: 0 });

    const other = await newAgent();
    expect((await chat(other, 'Hello')).status).toBe(200);
    const embedKeys = await service.call('GET', `${agentPath(other)}/embed-keys`, {
      token: tenant.keys.admin,
    });
    const embedKeyId = embedKeys.body.data[0].id as string;
    expect(
      (
        await service.call('DELETE', `${agentPath(other)}/embed-keys/${embedKeyId}`, {
          token: tenant.keys.admin,
        })
      ).status,
    ).toBe(204);
    const revoked = id('conv');
    expect((await chat(other, 'Still there?', { conversationId: revoked })).status).toBe(401);
    expect(await service.deps.redis.exists(keys().conversation(revoked))).toBe(0);
    expect(await holds()).toEqual({ reservedMicros: 0, open: 0 });
  });

  // After a restart or failover Redis has no scripts; each instance loads the ones it runs. When the
  // append and reserve scripts are loaded and the admission's is not, the admission is sent again
  // after them (ioredis's answer to NOSCRIPT): the gated steps find no lease and do nothing.
  it.each([
    ['no script loaded', []],
    ['all but the admission script loaded (by another instance)', ['conversationAppend', 'budgetReserve']],
  ] as const)('is answered once after Redis lost its scripts: %s', async (_case, loaded) => {
    const agent = await newAgent();
    await service.call('PUT', `${agentPath(agent)}/budget`, {
      token: tenant.keys.admin,
      body: { enabled: true, monthlyBudgetUsd: 5 },
    });
    expect((await chat(agent, 'Warm up')).status).toBe(200);
    const redis = service.deps.redis;
    const scripts = (redis as unknown as { scriptsSet: Record<string, { lua: string }> }).scriptsSet;
    await redis.script('FLUSH');
    for (const name of loaded) await redis.script('LOAD', scripts[name]!.lua);
    const conversationId = id('conv');
    const answered = await chat(agent, 'Are you there?', { conversationId });
    expect(answered.status).toBe(200);
    expect(answered.text).toContain('data: [DONE]');
    const stored = await redis.lrange(keys().conversationMessages(conversationId), 0, -1);
    expect(stored.map((message) => JSON.parse(message).role)).toEqual(['user', 'assistant']);
    expect(await holds()).toEqual({ reservedMicros: 0, open: 0 });
  });

  it("uses the agent's tools as they are now, not as the process last saw them", async () => {
    const agent = await newAgent();
    expect((await chat(agent, 'What is the status of order A-1001?')).text).not.toContain('get_order');
    const serverId = await createMcpServer(service.call, actingAs(tenant, 'admin'), {
      name: 'Shop',
      slug: id('shop'),
      url: mcp.url,
    });
    await service.call('PATCH', agentPath(agent), {
      token: tenant.keys.admin,
      body: { mcpServerIds: [serverId] },
    });
    const before = model.requests.length;
    const answered = await chat(agent, 'What is the status of order A-1001?');
    expect(answered.status).toBe(200);
    expect(answered.text).toContain('get_order');
    const sent = model.requests[before]?.body as { tools?: { function: { name: string } }[] };
    expect(sent.tools?.map((tool) => tool.function.name)).toContain('get_order');
  });
});
