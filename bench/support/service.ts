import { randomBytes } from 'node:crypto';
import { createDeps } from '@mcpstack/chat/bootstrap';
import { type Env, parseEnv } from '@mcpstack/chat/env';

export type BenchDeps = ReturnType<typeof createDeps>;

/**
 * Guards that are not what these benchmarks measure, opened wide: every request of a race comes from
 * one IP and one key in the same second, which the rate limits (per IP, key and visitor) would refuse
 * with 429 long before the budget had a say, and the bench origin is not a verified domain.
 */
const unmeasuredGuards = {
  MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'false',
  MCPSTACK_RATE_LIMIT_KEY_PER_MINUTE: '1000000',
  MCPSTACK_RATE_LIMIT_VISITOR_PER_MINUTE: '1000000',
  MCPSTACK_RATE_LIMIT_IP_PER_MINUTE: '1000000',
  MCPSTACK_RATE_LIMIT_API_KEY_PER_MINUTE: '1000000',
  MCPSTACK_MAX_STREAMS_PER_VISITOR: '1000',
  // History in an in-memory PGlite unless the bench is given a DATABASE_URL.
  MCPSTACK_DATA_DIR: 'memory://',
};

/** The service's environment for one benchmark: its own key prefix, so it can remove all it wrote. */
export function benchEnv(overrides: Record<string, string> = {}): Env {
  return parseEnv({
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    MCPSTACK_REDIS_PREFIX: `mcpstack-bench:${randomBytes(6).toString('hex')}:`,
    MCPSTACK_ADMIN_TOKEN: randomBytes(32).toString('hex'),
    MCPSTACK_SECRET_KEY: randomBytes(32).toString('hex'),
    MCPSTACK_ALLOW_PRIVATE_URLS: 'true',
    MCPSTACK_LOG_LEVEL: 'warn',
    ...unmeasuredGuards,
    ...overrides,
  });
}

/** Deletes every key under the benchmark's prefix (SCAN, never KEYS, which would block Redis). */
export async function removeKeys(deps: BenchDeps): Promise<number> {
  let removed = 0;
  let cursor = '0';
  do {
    const [next, found] = await deps.redis.scan(cursor, 'MATCH', `${deps.keys.prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) removed += await deps.redis.unlink(...found);
  } while (cursor !== '0');
  return removed;
}

/**
 * Removes the benchmark's keys through a connection of its own, then closes it. Used after the
 * service closed its own connection, so that nothing the service wrote while draining is left.
 */
export async function removeKeysAfterClose(env: Env): Promise<number> {
  const deps = createDeps(env);
  try {
    return await removeKeys(deps);
  } finally {
    await deps.mcp.close();
    await deps.redis.quit().catch(() => deps.redis.disconnect());
  }
}

/** `redis_version` from INFO server. */
export async function redisVersion(deps: BenchDeps): Promise<string> {
  const info = await deps.redis.info('server');
  return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
}
