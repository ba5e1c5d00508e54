import {
  type ServiceProcess,
  startServiceProcess as startProcess,
} from '@mcpstack/test-support/service-process';

export type { ServiceProcess };

/**
 * The service as `npm start` runs it, for the e2e tests: private URLs allowed (the local model and
 * the MCP servers listen on loopback) and a short shutdown; `env` adds to and overrides that.
 */
export function startServiceProcess(
  redisUrl: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  return startProcess({
    redisUrl,
    env: { MCPSTACK_ALLOW_PRIVATE_URLS: 'true', MCPSTACK_SHUTDOWN_TIMEOUT_MS: '5000', ...env },
  });
}

/**
 * Another instance of the same product: a second service process on `first`'s Redis and key
 * prefix, with `env` as `startServiceProcess` takes it (another model, other timeouts).
 */
export function startReplica(
  first: ServiceProcess,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  return startServiceProcess(first.env.REDIS_URL ?? '', { ...env, MCPSTACK_REDIS_PREFIX: first.prefix });
}
