import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** The Lua scripts of the service, by command name. Each is sent once (EVALSHA afterwards). */
const scriptFiles = {
  entityCreate: { file: 'entity-create.lua', keys: 3 },
  entityUpdate: { file: 'entity-update.lua', keys: 2 },
  entityDelete: { file: 'entity-delete.lua', keys: 4 },
  hashFieldSwap: { file: 'hash-field-swap.lua', keys: 1 },
  conversationAppend: { file: 'conversation-append.lua', keys: 4 },
  budgetReserve: { file: 'budget-reserve.lua', keys: 10 },
  budgetSettle: { file: 'budget-settle.lua', keys: 14 },
  creditsAdjust: { file: 'credits-adjust.lua', keys: 2 },
  creditsPurchase: { file: 'credits-purchase.lua', keys: 3 },
  creditsRefund: { file: 'credits-refund.lua', keys: 3 },
  budgetRelease: { file: 'budget-release.lua', keys: 3 },
  streamAcquire: { file: 'stream-acquire.lua', keys: 1 },
  deleteIfEquals: { file: 'delete-if-equals.lua', keys: 1 },
  chatAdmit: { file: 'chat-admit.lua', keys: 7 },
  webhookClaim: { file: 'webhook-claim.lua', keys: 1 },
  /** Takes as many buckets as the caller names (all of one organization's slot). */
  rateLimit: { file: 'rate-limit.lua', keys: 'any' },
} as const;

export type ScriptName = keyof typeof scriptFiles;

export interface Scripts {
  run(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
}

export interface RedisOptions {
  url: string;
  cluster: boolean;
  /** Fail a command after this long instead of queueing it forever: chat must fail closed, fast. */
  commandTimeoutMs?: number;
}

export function createRedis(options: RedisOptions): RedisClient {
  const common = {
    maxRetriesPerRequest: 2,
    connectTimeout: 3000,
    commandTimeout: options.commandTimeoutMs ?? 5000,
    lazyConnect: false,
    // Commands issued in one event-loop turn go out in one socket write: a write is a syscall, and
    // syscalls were the largest share of a chat turn's CPU (docs/benchmarks.md, Chat overhead).
    enableAutoPipelining: true,
  };
  if (!options.cluster) return new Redis(options.url, common);
  const nodes = options.url.split(',').map((part) => {
    const url = new URL(part.trim());
    return { host: url.hostname, port: Number(url.port || 6379) };
  });
  const first = new URL(options.url.split(',')[0]!.trim());
  return new Cluster(nodes, {
    redisOptions: {
      ...common,
      username: first.username || undefined,
      password: first.password || undefined,
      tls: first.protocol === 'rediss:' ? {} : undefined,
    },
  });
}

/**
 * Registers every script once with ioredis's `defineCommand`, which sends EVALSHA and falls back to
 * EVAL when a node lost its script cache (a restart, a failover, a new cluster node).
 */
export function loadScripts(redis: RedisClient): Scripts {
  const directory = new URL('./scripts/', import.meta.url);
  for (const [name, { file, keys }] of Object.entries(scriptFiles)) {
    const lua = withIncludes(readFileSync(new URL(file, directory), 'utf8'), directory);
    redis.defineCommand(name, keys === 'any' ? { lua } : { numberOfKeys: keys, lua });
  }
  const commands = redis as unknown as Record<ScriptName, (...args: (string | number)[]) => Promise<unknown>>;
  return {
    run(name, keys, args) {
      const expected: number | 'any' = scriptFiles[name].keys;
      if (expected === 'any') return commands[name](keys.length, ...keys, ...args);
      if (keys.length !== expected)
        throw new Error(`Script ${name} takes ${expected} keys, got ${keys.length}`);
      return commands[name](...keys, ...args);
    },
  };
}

/**
 * Shared Lua pieces are written once (`scripts/lib/`) and pulled in by a `--#include lib/<file>.lua`
 * line, replaced by the file's text before the script is registered.
 */
function withIncludes(lua: string, directory: URL): string {
  return lua.replace(/^--#include (\S+)$/gm, (_line, path: string) =>
    readFileSync(new URL(path, directory), 'utf8'),
  );
}

/** True for the errors ioredis raises when Redis cannot be reached (as opposed to a script bug). */
export function isRedisUnavailableError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Stream isn't writeable|enableOfflineQueue|CLUSTERDOWN|ClusterAllFailedError|Failed to refresh slots cache|LOADING/i.test(
      error.message,
    )
  );
}
