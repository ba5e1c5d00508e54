import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type Redis } from 'ioredis';
import { addEntry, emptyBatch, type HistoryBatch } from '../../services/chat/src/domain/history/outbox.ts';
import { freePort, freePortOutsideEphemeralRange, spawnRedisServer } from './redis-server.ts';
import { operatorToken } from './service-process.ts';

/** A redis-server that keeps its port and directory across restarts (AOF on: nothing lost). */
export interface RestartableRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  /** A graceful shutdown: Redis flushes its AOF, as in a rolling restart. */
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

/** Polls `check` every 50 ms; the default ceiling leaves room for a loaded 2-core machine. */
async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function restartableRedis(): Promise<RestartableRedis> {
  const port = await freePortOutsideEphemeralRange();
  const directory = mkdtempSync(join(tmpdir(), 'mcpstack-fault-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const self: RestartableRedis = {
    url,
    port,
    async start() {
      child = await spawnRedisServer(port, directory, ['--appendonly', 'yes']);
    },
    async stop() {
      const running = child;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    },
    async destroy() {
      await self.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}

/** A three-master Redis Cluster on loopback, built with `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<{ url: string; stop(): Promise<void> }> {
  const nodes: { port: number; child: ChildProcess; directory: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const directory = mkdtempSync(join(tmpdir(), 'mcpstack-cluster-'));
    const child = await spawnRedisServer(port, directory, [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
    ]);
    nodes.push({ port, child, directory });
  }
  const created = spawnSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    { encoding: 'utf8' },
  );
  if (created.status !== 0)
    throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  const url = nodes.map((node) => `redis://127.0.0.1:${node.port}`).join(',');
  await waitFor(async () => {
    const cluster = new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port })));
    try {
      return (await cluster.cluster('INFO')).includes('cluster_state:ok');
    } catch {
      return false;
    } finally {
      cluster.disconnect();
    }
  }, 'the cluster to be ok');
  return {
    url,
    async stop() {
      for (const node of nodes) {
        const exited = new Promise((resolve) => node.child.once('exit', resolve));
        node.child.kill('SIGTERM');
        await exited;
        rmSync(node.directory, { recursive: true, force: true });
      }
    },
  };
}

export interface ChatTenant {
  organizationId: string;
  adminKey: string;
  agentId: string;
  publicKey: string;
}

export const pageOrigin = 'https://shop.example';

async function api(url: string, method: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: each caller asserts the fields it reads
  const json: any = await response.json().catch(() => undefined);
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** An organization with an admin key, an agent (optionally budgeted) and an embed key. */
export async function createChatTenant(url: string, budget?: Record<string, unknown>): Promise<ChatTenant> {
  const organization = await api(url, 'POST', '/api/v1/organizations', operatorToken, {
    name: 'Faults',
    slug: `faults-${Math.random().toString(36).slice(2, 10)}`,
  });
  const key = await api(url, 'POST', `/api/v1/organizations/${organization.id}/api-keys`, operatorToken, {
    name: 'admin',
    role: 'admin',
  });
  const base = `/api/v1/organizations/${organization.id}`;
  const agent = await api(url, 'POST', `${base}/agents`, key.fullKey, {
    name: 'Fault agent',
    model: 'gpt-4.1-mini',
    maxOutputTokens: 256,
  });
  if (budget) await api(url, 'PATCH', `${base}/agents/${agent.id}/budget`, key.fullKey, budget);
  const embed = await api(url, 'POST', `${base}/agents/${agent.id}/embed-keys`, key.fullKey, {
    allowedOrigins: [pageOrigin],
  });
  return {
    organizationId: organization.id,
    adminKey: key.fullKey,
    agentId: agent.id,
    publicKey: embed.publicKey,
  };
}

export interface ChatOutcome {
  status: number;
  /** The UI-stream chunk types, in order (empty for a JSON answer). */
  types: string[];
  errorText: string | null;
  errorCode: string | null;
}

/** One chat turn, read to the end (or until the connection drops). */
export async function chatTurn(
  url: string,
  tenant: ChatTenant,
  text: string,
  options: { conversationId?: string; visitorId?: string; signal?: AbortSignal } = {},
): Promise<ChatOutcome> {
  let response: Response;
  try {
    response = await fetch(`${url}/api/v1/chat`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tenant.publicKey}`,
        origin: pageOrigin,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        id: options.conversationId ?? `conv-${Math.random().toString(36).slice(2, 14)}`,
        messages: [{ id: `m-${Date.now()}`, role: 'user', parts: [{ type: 'text', text }] }],
        visitorId: options.visitorId ?? `visitor-${Math.random().toString(36).slice(2, 12)}`,
      }),
      signal: options.signal,
    });
  } catch {
    return { status: 0, types: [], errorText: 'connection failed', errorCode: null };
  }
  if (!response.headers.get('content-type')?.includes('text/event-stream')) {
    const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    return {
      status: response.status,
      types: [],
      errorText: body.error?.message ?? null,
      errorCode: body.error?.code ?? null,
    };
  }
  const types: string[] = [];
  let errorText: string | null = null;
  let buffer = '';
  try {
    for await (const chunk of response.body ?? []) {
      buffer += Buffer.from(chunk).toString('utf8');
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const line = buffer.slice(0, end).replace(/^data: /, '');
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        if (line === '[DONE]' || line.trim() === '') continue;
        const part = JSON.parse(line) as { type: string; errorText?: string };
        types.push(part.type);
        if (part.type === 'error') errorText = part.errorText ?? '';
      }
    }
  } catch {
    errorText ??= 'the stream was cut';
  }
  return { status: response.status, types, errorText, errorCode: null };
}

/**
 * The history an instance appended to its organization's outbox stream. The fault tests run their
 * instances with MCPSTACK_HISTORY_DRAIN=false (each has an in-memory PGlite of its own), so the
 * whole history stays in Redis, next to the balance and the counters it must agree with.
 */
export async function outboxHistory(redis: Redis | Cluster, prefix: string, organizationId: string) {
  const batch: HistoryBatch = emptyBatch();
  const entries = (await redis.xrange(`${prefix}{${organizationId}}:history:outbox`, '-', '+')) as Array<
    [string, string[]]
  >;
  for (const [id, fields] of entries) addEntry(batch, organizationId, id, fields);
  return batch;
}

/**
 * The money invariants, read straight from Redis: the credit balance equals the sum of the ledger
 * entries; the agent's spend counter equals the sum of its LLM-call records; no reservation is held.
 */
export async function moneyInvariants(
  redis: Redis | Cluster,
  prefix: string,
  tenant: ChatTenant,
  period: string,
) {
  const base = `${prefix}{${tenant.organizationId}}`;
  const balance = Number((await redis.hget(`${base}:credits`, 'balance')) ?? 0);
  const history = await outboxHistory(redis, prefix, tenant.organizationId);
  const ledgerSum = history.ledger.reduce((sum, entry) => sum + entry.amountMicros, 0);
  const calls = history.calls.filter((call) => call.agentId === tenant.agentId);
  const recordsSum = calls.reduce((sum, call) => sum + call.costMicros, 0);
  const spend = Number((await redis.hget(`${base}:agent:${tenant.agentId}:spend:${period}`, 'agent')) ?? 0);
  const reserved = await redis.hgetall(`${base}:budget:reserved`);
  const held = Object.values(reserved).reduce((sum, value) => sum + Number(value), 0);
  return { balance, ledgerSum, spend, recordsSum, calls: calls.length, held };
}
