import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.ts';

const mainFile = fileURLToPath(new URL('../../services/chat/src/main.ts', import.meta.url));

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
  env: Record<string, string>;
  /** SIGTERM, wait for the exit, and delete every key this service wrote. */
  stop(): Promise<number | null>;
}

export const operatorToken = `e2e-operator-${randomBytes(16).toString('hex')}`;

/** Runs the service exactly as `npm start` does: node with type stripping on src/main.ts. */
export function spawnService(env: Record<string, string | undefined>): {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
} {
  const child = spawn(
    process.execPath,
    ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', mainFile],
    {
      env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout?.on('data', (chunk) => stdout.push(String(chunk)));
  child.stderr?.on('data', (chunk) => stderr.push(String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout, stderr, exited };
}

export async function startServiceProcess(
  redisUrl: string,
  extra: Record<string, string> = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  const prefix = `mcpstack-e2e:${randomBytes(6).toString('hex')}:`;
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    MCPSTACK_REDIS_PREFIX: prefix,
    MCPSTACK_ADMIN_TOKEN: operatorToken,
    MCPSTACK_SECRET_KEY: randomBytes(32).toString('hex'),
    MCPSTACK_ALLOW_PRIVATE_URLS: 'true',
    MCPSTACK_SHUTDOWN_TIMEOUT_MS: '5000',
    // Each process has an in-memory PGlite of its own (PGlite's files open in one process only) and
    // its own settle journal; a test restarting "the same machine" passes its own journal directory.
    MCPSTACK_DATA_DIR: 'memory://',
    MCPSTACK_JOURNAL_DIR: mkdtempSync(join(tmpdir(), 'mcpstack-e2e-journal-')),
    ...extra,
  };
  const spawned = spawnService(env);
  const url = `http://127.0.0.1:${port}`;
  // Polls /readyz; node's start with type stripping takes seconds on a loaded 2-core machine.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (spawned.child.exitCode !== null)
      throw new Error(`service exited early: ${spawned.stderr.join('')}${spawned.stdout.join('')}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`service did not become ready: ${spawned.stderr.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    ...spawned,
    env,
    async stop() {
      if (spawned.child.exitCode === null && !spawned.child.killed) spawned.child.kill('SIGTERM');
      const code = await spawned.exited;
      if (!extra.MCPSTACK_JOURNAL_DIR) rmSync(env.MCPSTACK_JOURNAL_DIR, { recursive: true, force: true });
      // A cluster (a list of nodes) is thrown away whole by its test: nothing to clean here.
      if (redisUrl.includes(',')) return code;
      // Cleanup never hides a test's own failure: a Redis a fault test left down is skipped.
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null });
      redis.on('error', () => undefined);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.unlink(...keys);
        } while (cursor !== '0');
      } catch {
        // Redis is away: its keys go with it (fault tests remove their redis-server whole)
      } finally {
        redis.disconnect();
      }
      return code;
    },
  };
}
