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
