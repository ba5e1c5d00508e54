import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';
import { type Spawned, spawnProcess, stopProcess, untilReady } from './processes.ts';

/** Whether a Redis answers PING at `url` (false, never a throw, when nothing listens). */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export interface RedisServerOptions {
  /** Appended to the defaults (no RDB, no AOF), so `['--appendonly', 'yes']` turns the AOF on. */
  extraArgs?: readonly string[];
  /** Pins the server to this CPU (`taskset -c`). */
  cpu?: number;
}

/**
 * Runs redis-server on `port` with its files in `directory` and resolves once it answers PING. It
 * exits at once when it cannot listen (the port taken meanwhile): that is said, not waited out.
 * Fault tests restart one on the same port and directory.
 */
export async function spawnRedisServer(
  port: number,
  directory: string,
  options: RedisServerOptions = {},
): Promise<Spawned> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', directory];
  const spawned = spawnProcess(
    ['redis-server', ...args, '--save', '', '--appendonly', 'no', ...(options.extraArgs ?? [])],
    { cpu: options.cpu },
  );
  const url = `redis://127.0.0.1:${port}`;
  try {
    await untilReady(spawned, () => redisAnswers(url), {
      what: `redis-server on port ${port}`,
      timeoutMs: 30_000,
    });
  } catch (error) {
    await stopProcess(spawned);
    throw error;
  }
  return spawned;
}

export interface LocalRedis {
  url: string;
  port: number;
  directory: string;
  process: Spawned;
  /** SIGTERM (Redis flushes its AOF, when on), then the directory is removed. */
  stop(): Promise<void>;
}

/** A private redis-server on a free port in a temp directory: for CI without Redis, fault tests, the demo. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<LocalRedis> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'mcpstack-redis-'));
  const spawned = await spawnRedisServer(port, directory, options);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    directory,
    process: spawned,
    async stop() {
      await stopProcess(spawned);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** What `removeKeysByPrefix` needs of a client: a Redis or a Cluster connection. */
type KeyRemover = Pick<Redis, 'scan' | 'unlink'>;

/**
 * Deletes every key under `prefix` (SCAN, never KEYS, which would block Redis) and says how many.
 * How a test, a benchmark or the demo leaves a shared Redis as it found it.
 */
export async function removeKeysByPrefix(redis: KeyRemover, prefix: string): Promise<number> {
  let removed = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) removed += await redis.unlink(...found);
  } while (cursor !== '0');
  return removed;
}

/** `removeKeysByPrefix` through a connection of its own to `url`, closed after; throws when Redis is away. */
export async function removeKeysAt(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    return await removeKeysByPrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

/** `redis_version` from INFO server. */
export async function redisVersion(redis: Pick<Redis, 'info'>): Promise<string> {
  return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
}
