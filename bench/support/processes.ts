import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';

/**
 * The service and the local model as processes of their own (as `npm start` runs them), so the load
 * generator in this process does not share their event loop and the figures are the service's.
 */
const serviceMain = fileURLToPath(new URL('../../services/chat/src/main.ts', import.meta.url));
const modelMain = fileURLToPath(new URL('../../packages/local-model/src/main.ts', import.meta.url));
const bareRelayMain = fileURLToPath(new URL('./bare-relay.ts', import.meta.url));
const stripTypes = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Running {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** How a child is started: pinned to one CPU (`taskset -c`, when present) and with extra Node flags. */
export interface StartOptions {
  cpu?: number;
  nodeFlags?: string[];
}

/** Whether `taskset` (util-linux) can pin processes here. */
export function tasksetAvailable(): boolean {
  return spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
}

async function start(
  file: string,
  env: Record<string, string>,
  ready: string,
  options: StartOptions = {},
): Promise<Running> {
  const node = [process.execPath, ...(options.nodeFlags ?? []), ...stripTypes, file];
  // taskset execs node in its own process, so the child's pid is node's (for /proc/<pid>/stat).
  const command = options.cpu !== undefined ? ['taskset', '-c', String(options.cpu), ...node] : node;
  const child = spawn(command[0] ?? process.execPath, command.slice(1), {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${file} exited: ${stderr}`);
    try {
      const response = await fetch(ready);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${file} did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url: new URL(ready).origin,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
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

export interface ServiceProcess extends Running {
  prefix: string;
  operatorToken: string;
}

export async function startServiceProcess(
  modelUrl: string,
  extra: Record<string, string> = {},
  options: StartOptions = {},
) {
  const port = await freePort();
  const prefix = `mcpstack-bench:${randomBytes(6).toString('hex')}:`;
  const operatorToken = randomBytes(32).toString('hex');
  const running = await start(
    serviceMain,
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
      MCPSTACK_REDIS_PREFIX: prefix,
      MCPSTACK_ADMIN_TOKEN: operatorToken,
      MCPSTACK_SECRET_KEY: randomBytes(32).toString('hex'),
      MCPSTACK_LOG_LEVEL: 'warn',
      OPENAI_BASE_URL: `${modelUrl}/v1`,
      // Guards that are not what these benchmarks measure, opened wide (one IP, one key, a made-up origin).
      MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'false',
      MCPSTACK_RATE_LIMIT_KEY_PER_MINUTE: '1000000',
      MCPSTACK_RATE_LIMIT_VISITOR_PER_MINUTE: '1000000',
      MCPSTACK_RATE_LIMIT_IP_PER_MINUTE: '1000000',
      MCPSTACK_RATE_LIMIT_API_KEY_PER_MINUTE: '1000000',
      MCPSTACK_MAX_STREAMS_PER_VISITOR: '1000',
      MCPSTACK_FREE_CREDITS_USD: '1000',
      ...extra,
    },
    `http://127.0.0.1:${port}/readyz`,
    options,
  );
  return { ...running, prefix, operatorToken } satisfies ServiceProcess;
}

export const origin = 'https://bench.example';

/** An organization, an admin key, an agent without tools and an embed key, through the API. */
export async function createTenant(service: ServiceProcess, agentBody: Record<string, unknown> = {}) {
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${service.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: the fields read are checked where used
    const json: any = await response.json();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const organization = await call('POST', '/organizations', service.operatorToken, {
    name: 'Bench',
    slug: `bench-${randomBytes(4).toString('hex')}`,
  });
  const key = await call('POST', `/organizations/${organization.id}/api-keys`, service.operatorToken, {
    name: 'bench',
    role: 'admin',
  });
  const agent = await call('POST', `/organizations/${organization.id}/agents`, key.fullKey, {
    name: 'Bench agent',
    model: 'gpt-4.1-mini',
    maxOutputTokens: 256,
    ...agentBody,
  });
  const embed = await call(
    'POST',
    `/organizations/${organization.id}/agents/${agent.id}/embed-keys`,
    key.fullKey,
    {
      allowedOrigins: [origin],
    },
  );
  return {
    organizationId: organization.id as string,
    adminKey: key.fullKey as string,
    agentId: agent.id as string,
    publicKey: embed.publicKey as string,
  };
}

export type Tenant = Awaited<ReturnType<typeof createTenant>>;

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

/** Deletes every key under a benchmark's prefix (SCAN, never KEYS, which would block Redis). */
export async function removeKeysByPrefix(prefix: string): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
  try {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of found) await redis.unlink(key);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** `redis_version` of the Redis at REDIS_URL. */
export async function redisVersionOf(): Promise<string> {
  const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
  try {
    return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
}

/**
 * A redis-server of the benchmark's own (no persistence, a free port, a temp directory), pinned to
 * a CPU when asked: the service's store placed beside it, away from other work on the machine.
 */
export async function startPrivateRedis(options: { cpu?: number } = {}): Promise<Running> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'mcpstack-bench-redis-'));
  const command = [
    'redis-server',
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    directory,
  ];
  const full = options.cpu !== undefined ? ['taskset', '-c', String(options.cpu), ...command] : command;
  const child = spawn(full[0] ?? 'redis-server', full.slice(1), { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      break;
    } catch {
      client.disconnect();
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error('the private redis-server did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
