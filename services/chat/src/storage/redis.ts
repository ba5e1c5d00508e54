import { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

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
