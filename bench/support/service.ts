import { randomBytes } from 'node:crypto';
import { createDeps } from '@mcpstack/chat/bootstrap';
import { type Env, parseEnv } from '@mcpstack/chat/env';
import { removeKeysByPrefix } from '@mcpstack/test-support/redis';
import { unmeasuredGuards } from './guards.ts';

export type BenchDeps = ReturnType<typeof createDeps>;

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

/** Deletes every key under the benchmark's prefix. */
export function removeKeys(deps: BenchDeps): Promise<number> {
  return removeKeysByPrefix(deps.redis, deps.keys.prefix);
}

/** Removes the benchmark's keys, then closes what `createDeps` opened. */
export async function closeBenchDeps(deps: BenchDeps): Promise<number> {
  try {
    return await removeKeys(deps);
  } finally {
    await deps.mcp.close();
    await deps.redis.quit().catch(() => deps.redis.disconnect());
    await deps.history.close();
  }
}

/**
 * Removes the benchmark's keys through a connection of its own, then closes it. Used after the
 * service closed its own connection, so that nothing the service wrote while draining is left.
 */
export function removeKeysAfterClose(env: Env): Promise<number> {
  return closeBenchDeps(createDeps(env));
}
