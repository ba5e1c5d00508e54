import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiClient } from '@mcpstack/test-support/api';
import { waitFor } from '@mcpstack/test-support/poll';
import { freePort, freePortOutsideEphemeralRange } from '@mcpstack/test-support/ports';
import { type Spawned, stopProcess } from '@mcpstack/test-support/processes';
import { spawnRedisServer } from '@mcpstack/test-support/redis';
import type { ServiceProcess } from '@mcpstack/test-support/service-process';
import { type ChatTenant, seedTenant, uniqueSlug } from '@mcpstack/test-support/tenants';
import { Cluster, Redis } from 'ioredis';
import { addEntry, emptyBatch, type HistoryBatch } from '../../services/chat/src/domain/history/outbox.ts';
import { startReplica, startServiceProcess } from './service-process.ts';

export type { ChatTenant };

/** A redis-server that keeps its port and directory across restarts (AOF on: nothing lost). */
export interface RestartableRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  /** A graceful shutdown: Redis flushes its AOF, as in a rolling restart. */
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

export async function restartableRedis(): Promise<RestartableRedis> {
  const port = await freePortOutsideEphemeralRange();
  const directory = mkdtempSync(join(tmpdir(), 'mcpstack-fault-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let running: Spawned | null = null;
  const self: RestartableRedis = {
    url,
    port,
    async start() {
      running = await spawnRedisServer(port, directory, { extraArgs: ['--appendonly', 'yes'] });
    },
    async stop() {
      if (running) await stopProcess(running);
    },
    async destroy() {
      await self.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}

/**
 * Two instances of one product (the second on the first's key prefix) on a restartable
 * redis-server of their own, and a client of that Redis.
 */
export interface TwoInstances {
  redis: RestartableRedis;
  first: ServiceProcess;
  second: ServiceProcess;
  client: Redis;
  /** Disconnects the client, stops both instances, then removes the redis-server. */
  stop(): Promise<void>;
}

export async function twoInstances(env: Record<string, string>): Promise<TwoInstances> {
  const redis = await restartableRedis();
  const first = await startServiceProcess(redis.url, env);
  const second = await startReplica(first, env);
  const client = new Redis(redis.url);
  return {
    redis,
    first,
    second,
    client,
    async stop() {
      client.disconnect();
      await second.stop();
      await first.stop();
      await redis.destroy();
    },
  };
}

/** A three-master Redis Cluster on loopback, built with `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<{ url: string; stop(): Promise<void> }> {
  const nodes: { port: number; server: Spawned; directory: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const directory = mkdtempSync(join(tmpdir(), 'mcpstack-cluster-'));
    const server = await spawnRedisServer(port, directory, {
      extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
    });
    nodes.push({ port, server, directory });
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
  await waitFor(
    async () => {
      const cluster = new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port })));
      try {
        return (await cluster.cluster('INFO')).includes('cluster_state:ok');
      } catch {
        return false;
      } finally {
        cluster.disconnect();
      }
    },
    { what: 'the cluster to be ok' },
  );
  return {
    url,
    async stop() {
      for (const node of nodes) {
        await stopProcess(node.server);
        rmSync(node.directory, { recursive: true, force: true });
      }
    },
  };
}

export const pageOrigin = 'https://shop.example';

/** This month's budget period (`YYYY-MM-01`, UTC): the spend counters' key suffix. */
export const period = (() => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString().slice(0, 10);
})();

/** An organization with an admin key, an agent (optionally budgeted) and an embed key. */
export function createChatTenant(
  service: Pick<ServiceProcess, 'url' | 'operatorToken'>,
  budget?: Record<string, unknown>,
): Promise<ChatTenant> {
  return seedTenant(apiClient(service.url, service.operatorToken), {
    organization: { name: 'Faults', slug: uniqueSlug('faults') },
    agent: { name: 'Fault agent', model: 'gpt-4.1-mini', maxOutputTokens: 256 },
    budget,
    embedKey: { allowedOrigins: [pageOrigin] },
  });
}

export interface ChatOutcome {
  status: number;
  /** The UI-stream chunk types, in order (empty for a JSON answer). */
  types: string[];
  errorText: string | null;
  errorCode: string | null;
}

export interface ChatOptions {
  conversationId?: string;
  visitorId?: string;
  signal?: AbortSignal;
}

/** Sends one chat message from the page's origin (a new conversation and visitor unless given). */
export function postChat(url: string, tenant: ChatTenant, text: string, options: ChatOptions = {}) {
  return fetch(`${url}/api/v1/chat`, {
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
}

/** One chat turn, read to the end (or until the connection drops). */
export async function chatTurn(
  url: string,
  tenant: ChatTenant,
  text: string,
  options: ChatOptions = {},
): Promise<ChatOutcome> {
  let response: Response;
  try {
    response = await postChat(url, tenant, text, options);
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
