import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import {
  answersOk,
  nodeCommand,
  type Spawned,
  type SpawnOptions,
  spawnProcess,
  stopProcess,
  untilReady,
} from './processes.ts';
import { removeKeysAt } from './redis.ts';

const serviceMain = fileURLToPath(new URL('../../../services/chat/src/main.ts', import.meta.url));

/** Runs the service exactly as `npm start` does (node with type stripping on src/main.ts), with `env` only. */
export function spawnService(
  env: Record<string, string | undefined>,
  options: Omit<SpawnOptions, 'env'> & { nodeFlags?: string[] } = {},
): Spawned {
  return spawnProcess(nodeCommand(serviceMain, options.nodeFlags), {
    ...options,
    env: { PATH: process.env.PATH, ...env },
  });
}

export interface ServiceProcess extends Spawned {
  url: string;
  /** The environment it runs with. */
  env: Record<string, string>;
  /** Its Redis key prefix: every key it writes starts with this. */
  prefix: string;
  /** Its MCPSTACK_ADMIN_TOKEN, for the operator's API. */
  operatorToken: string;
  /** SIGTERM, wait for the exit, then delete every key under its prefix and its settle journal. */
  stop(): Promise<number | null>;
}

export interface ServiceProcessOptions extends Omit<SpawnOptions, 'env'> {
  redisUrl: string;
  /** Added to (and overriding) the defaults: a key prefix of its own, an in-memory PGlite, a temp journal. */
  env?: Record<string, string>;
  /** Starts the prefix: `<label>:<hex>:`. */
  label?: string;
  nodeFlags?: string[];
}

/**
 * The service as a process of its own on a free port, resolved once `/readyz` answers (node's start
 * with type stripping takes seconds on a loaded 2-core machine). Each process has an in-memory
 * PGlite of its own (PGlite's files open in one process only) and its own settle journal; a test
 * restarting "the same machine" passes its own MCPSTACK_JOURNAL_DIR, which is then left alone.
 */
export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcess> {
  const port = await freePort();
  const journal = options.env?.MCPSTACK_JOURNAL_DIR ?? mkdtempSync(join(tmpdir(), 'mcpstack-journal-'));
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: options.redisUrl,
    MCPSTACK_REDIS_PREFIX: `${options.label ?? 'mcpstack-e2e'}:${randomBytes(6).toString('hex')}:`,
    MCPSTACK_ADMIN_TOKEN: randomBytes(32).toString('hex'),
    MCPSTACK_SECRET_KEY: randomBytes(32).toString('hex'),
    MCPSTACK_DATA_DIR: 'memory://',
    MCPSTACK_JOURNAL_DIR: journal,
    ...options.env,
  };
  const spawned = spawnService(env, options);
  const url = `http://127.0.0.1:${port}`;
  const prefix = env.MCPSTACK_REDIS_PREFIX ?? '';
  try {
    await untilReady(spawned, () => answersOk(`${url}/readyz`), {
      what: 'the service',
      timeoutMs: 90_000,
      intervalMs: 100,
    });
  } catch (error) {
    await stopProcess(spawned);
    throw error;
  }
  return {
    ...spawned,
    url,
    env,
    prefix,
    operatorToken: env.MCPSTACK_ADMIN_TOKEN ?? '',
    async stop() {
      const code = await stopProcess(spawned);
      if (options.env?.MCPSTACK_JOURNAL_DIR === undefined) rmSync(journal, { recursive: true, force: true });
      // A cluster (a list of nodes) is thrown away whole by its test: nothing to clean there.
      const redisUrl = env.REDIS_URL ?? options.redisUrl;
      if (redisUrl.includes(',')) return code;
      try {
        await removeKeysAt(redisUrl, prefix);
      } catch {
        // Redis is away: its keys go with it (fault tests remove their redis-server whole). Cleanup
        // never hides a test's own failure.
      }
      return code;
    },
  };
}
