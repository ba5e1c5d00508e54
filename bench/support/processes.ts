import { fileURLToPath } from 'node:url';
import { apiClient } from '@mcpstack/test-support/api';
import { freePort } from '@mcpstack/test-support/ports';
import {
  answersOk,
  nodeCommand,
  type SpawnOptions,
  spawnProcess,
  stopProcess,
  untilReady,
} from '@mcpstack/test-support/processes';
import { type LocalRedis, redisVersion, startRedisServer } from '@mcpstack/test-support/redis';
import {
  type ServiceProcess,
  startServiceProcess as startService,
} from '@mcpstack/test-support/service-process';
import { type ChatTenant, seedTenant, uniqueSlug } from '@mcpstack/test-support/tenants';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { unmeasuredGuards } from './guards.ts';

export type { ServiceProcess };

/**
 * The service and the local model as processes of their own (as `npm start` runs them), so the load
 * generator in this process does not share their event loop and the figures are the service's.
 */
const modelMain = fileURLToPath(new URL('../../packages/local-model/src/main.ts', import.meta.url));
const bareRelayMain = fileURLToPath(new URL('./bare-relay.ts', import.meta.url));

export interface Running {
  url: string;
  child: ServiceProcess['child'];
  stop(): Promise<unknown>;
}

/** How a child is started: pinned to one CPU (`taskset -c`, when present) and with extra Node flags. */
export interface StartOptions extends Pick<SpawnOptions, 'cpu'> {
  nodeFlags?: string[];
}

export { tasksetAvailable } from '@mcpstack/test-support/processes';

async function start(
  file: string,
  env: Record<string, string>,
  ready: string,
  options: StartOptions = {},
): Promise<Running> {
  const spawned = spawnProcess(nodeCommand(file, options.nodeFlags), {
    env: { PATH: process.env.PATH ?? '', ...env },
    cpu: options.cpu,
    stdout: 'ignore',
  });
  await untilReady(spawned, () => answersOk(ready), { what: file, timeoutMs: 20_000 });
  return { url: new URL(ready).origin, child: spawned.child, stop: () => stopProcess(spawned) };
}

export async function startModelProcess(
  options: { chunkDelayMs?: number } & StartOptions = {},
): Promise<Running> {
  const port = await freePort();
  return start(
    modelMain,
    { LOCAL_MODEL_PORT: String(port), LOCAL_MODEL_CHUNK_DELAY_MS: String(options.chunkDelayMs ?? 0) },
    `http://127.0.0.1:${port}/v1/models`,
    options,
  );
}

/** The bare `node:http` relay of `bare-relay.ts` in front of the model at `modelUrl`. */
export async function startBareRelayProcess(modelUrl: string, options: StartOptions = {}): Promise<Running> {
  const port = await freePort();
  return start(
    bareRelayMain,
    { BARE_RELAY_PORT: String(port), BARE_RELAY_MODEL_URL: modelUrl },
    `http://127.0.0.1:${port}/readyz`,
    options,
  );
}

/**
 * The service on the model at `modelUrl`, with the guards these benchmarks do not measure opened
 * wide; `stop` removes every key it wrote.
 */
export function startServiceProcess(
  modelUrl: string,
  extra: Record<string, string> = {},
  options: StartOptions = {},
): Promise<ServiceProcess> {
  return startService({
    ...options,
    redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    label: 'mcpstack-bench',
    stdout: 'ignore',
    env: {
      MCPSTACK_LOG_LEVEL: 'warn',
      OPENAI_BASE_URL: `${modelUrl}/v1`,
      ...unmeasuredGuards,
      MCPSTACK_FREE_CREDITS_USD: '1000',
      ...extra,
    },
  });
}

export const origin = 'https://bench.example';

export type Tenant = ChatTenant;

/** An organization, an admin key, an agent without tools and an embed key, through the API. */
export function createTenant(
  service: ServiceProcess,
  agentBody: Record<string, unknown> = {},
): Promise<Tenant> {
  return seedTenant(apiClient(service.url, service.operatorToken), {
    organization: { name: 'Bench', slug: uniqueSlug('bench') },
    agent: { name: 'Bench agent', model: 'gpt-4.1-mini', maxOutputTokens: 256, ...agentBody },
    embedKey: { allowedOrigins: [origin] },
  });
}

export const connections = new Agent({ connections: 1000, pipelining: 0, keepAliveTimeout: 30_000 });

/**
 * One streamed request read to its end: the time to the first byte of model text (a `text-delta`
 * part of the UI stream, or a `content` delta of Chat Completions) and whether it ended well.
 */
export async function timeStream(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  isFirstToken: (line: string) => boolean,
): Promise<{ status: number; firstTokenMs: number | null; totalMs: number; ok: boolean }> {
  const started = performance.now();
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    dispatcher: connections,
  });
  let firstTokenMs: number | null = null;
  let pending = '';
  let tail = '';
  for await (const chunk of response.body) {
    const piece = Buffer.from(chunk).toString('utf8');
    tail = (tail + piece).slice(-64);
    if (firstTokenMs !== null) continue;
    const lines = (pending + piece).split('\n');
    pending = lines.pop() ?? '';
    if (lines.some(isFirstToken)) firstTokenMs = performance.now() - started;
  }
  const ok = response.statusCode === 200 && tail.includes('[DONE]');
  return { status: response.statusCode, firstTokenMs, totalMs: performance.now() - started, ok };
}

/** `redis_version` of the Redis at REDIS_URL. */
export async function redisVersionOf(): Promise<string> {
  const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
  try {
    return await redisVersion(redis);
  } finally {
    redis.disconnect();
  }
}

/**
 * A redis-server of the benchmark's own (no persistence, a free port, a temp directory), pinned to
 * a CPU when asked: the service's store placed beside it, away from other work on the machine.
 */
export function startPrivateRedis(options: { cpu?: number } = {}): Promise<LocalRedis> {
  return startRedisServer(options);
}
