import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createTestDatabase } from '@mcpstack/test-support/postgres';
import { removeKeysByPrefix } from '@mcpstack/test-support/redis';
import { createOrganization, type Organization } from '@mcpstack/test-support/tenants';
import { inject } from 'vitest';
import { createDeps, type RunningServer, startServer } from '../../src/bootstrap.ts';
import type { Clock, Deps } from '../../src/deps.ts';
import { parseEnv } from '../../src/env.ts';
import { createLogger } from '../../src/logger.ts';
import { openDatabase } from '../../src/storage/database/database.ts';
import { createHistoryStore, type HistoryStore } from '../../src/storage/database/history-store.ts';
import { assertDocumentedResponse } from './contract.ts';

export { uniqueSlug } from '@mcpstack/test-support/tenants';

export const adminToken = `test-operator-token-${'x'.repeat(32)}`;

export interface TestService {
  deps: Deps;
  url: string;
  /** Every log line the service wrote, for tests that prove secrets never reach the logs. */
  logs: string[];
  running: RunningServer;
  /**
   * `fetch` against the service, JSON in and out. Throws when the response is not what the OpenAPI
   * document publishes for its route (status, media type, body), so docs and behaviour cannot drift.
   */
  call(method: string, path: string, options?: CallOptions): Promise<CallResult>;
  /** Moves the history outbox to PostgreSQL now (after any pass in flight): reads then see every write. */
  drain(): Promise<number>;
  /** Creates an organization and a key of each role; ready-made tenants for most tests. */
  createTenant(slug?: string): Promise<Tenant>;
  stop(): Promise<void>;
}

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience; each test asserts the shape it needs
  body: any;
  text: string;
}

/** An organization with a key of each role. */
export type Tenant = Organization;

/**
 * Without DATABASE_URL, the services of one test file share one in-memory PGlite (its start is the
 * slow part; organizations never collide): each file has its own, since vitest isolates files.
 */
let filePglite: HistoryStore | undefined;
function sharedPglite(): HistoryStore {
  filePglite ??= createHistoryStore(openDatabase({ url: undefined, dataDirectory: 'memory://' }));
  // A service's shutdown closes its store: this one outlives the service.
  return { ...filePglite, close: async () => {} };
}

/**
 * A whole service on port 0 with its own Redis key prefix; `stop` removes every key it wrote. A test
 * that waits on time (an expiry) passes a clock it moves instead of sleeping.
 */
export async function startTestService(
  env: Record<string, string> = {},
  options: { clock?: Clock } = {},
): Promise<TestService> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const prefix = `mcpstack-test:${randomBytes(6).toString('hex')}:`;
  const dataDirectory = mkdtempSync(join(tmpdir(), 'mcpstack-test-data-'));
  const database = await createTestDatabase();
  const parsed = parseEnv({
    DATABASE_URL: database.url ?? '',
    MCPSTACK_DATA_DIR: 'memory://',
    REDIS_URL: inject('redisUrl'),
    MCPSTACK_REDIS_PREFIX: prefix,
    MCPSTACK_ADMIN_TOKEN: adminToken,
    MCPSTACK_SECRET_KEY: 'test-secret-key-0123456789abcdef0123456789abcdef',
    MCPSTACK_ALLOW_PRIVATE_URLS: 'true',
    MCPSTACK_LOG_LEVEL: 'info',
    MCPSTACK_SHUTDOWN_TIMEOUT_MS: '2000',
    // Most tests embed on made-up origins and fire requests quickly: the domain and abuse tests
    // (attacks.security.test.ts, verified-domains.test.ts) turn these protections back on.
    MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'false',
    MCPSTACK_RATE_LIMIT_IP_PER_MINUTE: '100000',
    MCPSTACK_RATE_LIMIT_VISITOR_PER_MINUTE: '100000',
    MCPSTACK_RATE_LIMIT_KEY_PER_MINUTE: '100000',
    MCPSTACK_RATE_LIMIT_API_KEY_PER_MINUTE: '100000',
    MCPSTACK_JOURNAL_DIR: dataDirectory,
    ...env,
  });
  const deps = createDeps(parsed, {
    logger: createLogger('info', sink),
    clock: options.clock,
    ...(database.url === undefined && { history: sharedPglite() }),
  });
  const running = await startServer(deps, 0, '127.0.0.1');

  const call: TestService['call'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? adminToken : options.token;
    if (token !== null && headers.authorization === undefined && headers['x-api-key'] === undefined) {
      headers.authorization = `Bearer ${token}`;
    }
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${running.url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsedBody: unknown = text;
    try {
      parsedBody = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: leave the text
    }
    const result = { status: response.status, headers: response.headers, body: parsedBody, text };
    assertDocumentedResponse(method, path, result);
    return result;
  };

  const createTenant: TestService['createTenant'] = (slug) => createOrganization(call, { slug });

  return {
    deps,
    url: running.url,
    logs,
    running,
    call,
    createTenant,
    drain: () => running.drainer.drainOnce({ reclaim: false }),
    async stop() {
      await removeKeysByPrefix(deps.redis, parsed.MCPSTACK_REDIS_PREFIX);
      await running.close();
      rmSync(dataDirectory, { recursive: true, force: true });
      await database.drop();
    },
  };
}
