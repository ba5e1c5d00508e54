import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createApp } from './app.ts';
import { type Clock, type Deps, systemClock } from './deps.ts';
import { startExpiredHoldSweeper } from './domain/budgets/expired-holds.ts';
import { createSettleJournal } from './domain/budgets/settle-journal.ts';
import { HoldForecast } from './domain/chat/hold-forecast.ts';
import { createLiveAnswerHub } from './domain/chat/live-answers.ts';
import { createModelProvider } from './domain/chat/model/provider.ts';
import { createStripeClient } from './domain/credits/stripe.ts';
import { createSecretBox } from './domain/crypto.ts';
import { createDrainer, type Drainer } from './domain/history/drainer.ts';
import { createUserTokenKeys } from './domain/identity/user-token-keys.ts';
import { createMcpClient } from './domain/mcp/client.ts';
import { createModelCatalog } from './domain/model-catalog.ts';
import { startWebhookWorker, type WebhookWorker } from './domain/webhooks/delivery-worker.ts';
import { type Env, EnvError, readModelCatalogSource } from './env.ts';
import { createLogger } from './logger.ts';
import { openDatabase } from './storage/database/database.ts';
import { createHistoryStore, type HistoryStore } from './storage/database/history-store.ts';
import { createKeys } from './storage/keys.ts';
import { createRedis } from './storage/redis.ts';
import { loadScripts } from './storage/scripts.ts';
import { createStores } from './storage/stores.ts';

export interface DepsOverrides {
  logger?: Logger;
  clock?: Clock;
  /** Process-wide metrics (event loop, memory); off in tests, which build many worlds. */
  defaultMetrics?: boolean;
  /** The history store (tests share one PGlite per file); default: from DATABASE_URL. */
  history?: HistoryStore;
}

export function createDeps(env: Env, overrides: DepsOverrides = {}): Deps {
  const logger = overrides.logger ?? createLogger(env.MCPSTACK_LOG_LEVEL);
  const redis = createRedis({ url: env.REDIS_URL, cluster: env.MCPSTACK_REDIS_CLUSTER });
  redis.on('error', (error: Error) => logger.warn({ reason: error.message }, 'redis connection error'));
  const scripts = loadScripts(redis);
  const keys = createKeys(env.MCPSTACK_REDIS_PREFIX);
  const metrics = new Registry();
  if (overrides.defaultMetrics) collectDefaultMetrics({ register: metrics, prefix: 'mcpstack_' });
  const clock = overrides.clock ?? systemClock;
  return {
    env,
    redis,
    scripts,
    history:
      overrides.history ??
      createHistoryStore(openDatabase({ url: env.DATABASE_URL, dataDirectory: pgliteDirectory(env) })),
    keys,
    stores: createStores(redis, scripts, keys),
    logger,
    metrics,
    clock,
    liveAnswers: createLiveAnswerHub({ redis, scripts, keys, env, logger }),
    settleJournal: createSettleJournal({ env, redis, scripts, keys, clock, logger }, journalDirectory(env)),
    holdForecast: new HoldForecast(),
    secretBox: createSecretBox(env.MCPSTACK_SECRET_KEY),
    userTokenKeys: createUserTokenKeys(),
    modelCatalog: loadModelCatalog(env),
    mcp: createMcpClient({
      allowPrivateUrls: env.MCPSTACK_ALLOW_PRIVATE_URLS,
      timeoutMs: env.MCPSTACK_MCP_TIMEOUT_MS,
      logger,
    }),
    models: createModelProvider(env),
    stripe: createStripeClient(env),
  };
}

/**
 * The settle journal must outlive the process: under MCPSTACK_DATA_DIR, or where
 * MCPSTACK_JOURNAL_DIR says (tests whose history is in memory keep it in a directory of their own).
 */
function journalDirectory(env: Env): string {
  if (env.MCPSTACK_JOURNAL_DIR) return env.MCPSTACK_JOURNAL_DIR;
  if (env.MCPSTACK_DATA_DIR.startsWith('memory://'))
    return join(tmpdir(), `mcpstack-settle-journal-${process.pid}`);
  return join(env.MCPSTACK_DATA_DIR, 'settle-journal');
}

/** PGlite's files, or `memory://` (MCPSTACK_DATA_DIR=memory://: nothing on disk, for tests). */
function pgliteDirectory(env: Env): string {
  return env.MCPSTACK_DATA_DIR.startsWith('memory://')
    ? 'memory://'
    : join(env.MCPSTACK_DATA_DIR, 'postgres');
}

/** A bad catalog is a configuration error: reported like any other bad variable (exit 78). */
function loadModelCatalog(env: Env) {
  try {
    return createModelCatalog(readModelCatalogSource(env.MCPSTACK_MODEL_CATALOG));
  } catch (error) {
    if (error instanceof EnvError) throw error;
    const reason =
      error instanceof Error
        ? error.message.replace(/^MCPSTACK_MODEL_CATALOG( is invalid)?:?\s*/, '')
        : String(error);
    throw new EnvError(`Invalid configuration:\n  MCPSTACK_MODEL_CATALOG: ${reason}`);
  }
}

export interface RunningServer {
  server: Server;
  url: string;
  /** Moves the history outbox to PostgreSQL (running unless MCPSTACK_HISTORY_DRAIN=false). */
  drainer: Drainer;
  /** This instance's webhook delivery worker. */
  webhooks: WebhookWorker;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), then closes Redis. */
  close(): Promise<void>;
}

export async function startServer(
  deps: Deps,
  port = deps.env.PORT,
  host = deps.env.HOST,
): Promise<RunningServer> {
  // Migrations run before the first request: a schema the code does not know is never served.
  await deps.history.ready();
  const drainer = createDrainer(deps);
  if (deps.env.MCPSTACK_HISTORY_DRAIN) drainer.start();
  const { app, lifecycle } = createApp(deps);
  const { env } = deps;
  // Settles that waited on disk for Redis go first; then every second while any wait.
  deps.settleJournal.start(1000);
  const stopSweeper = startExpiredHoldSweeper(deps, env.MCPSTACK_HOLD_SWEEP_MS);
  const webhooks = startWebhookWorker(deps);
  // requestTimeout bounds receiving the request (headers and body: a slow body no longer holds a
  // socket for Node's default 300 s), never the response, so chat streams run as long as they need.
  // Node checks these timeouts every connectionsCheckingInterval (30 s by default): check often
  // enough that a short timeout means what it says.
  const server = createServer(
    {
      headersTimeout: env.MCPSTACK_HEADERS_TIMEOUT_MS,
      requestTimeout: env.MCPSTACK_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1000, Math.floor(env.MCPSTACK_HEADERS_TIMEOUT_MS / 2)),
    },
    app,
  );
  // Longer than a load balancer's idle timeout (60 s on AWS ALB), so the balancer closes first.
  server.keepAliveTimeout = env.MCPSTACK_KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  // A keep-alive connection turns idle when its last response is sent: close it then if draining.
  server.on('request', (_request, response: ServerResponse) => {
    response.once('finish', () => {
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  return {
    server,
    drainer,
    webhooks,
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${address.port}`,
    close() {
      closing ??= (async () => {
        lifecycle.accepting = false;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timeout = deps.env.MCPSTACK_SHUTDOWN_TIMEOUT_MS;
        const timer = setTimeout(() => {
          deps.logger.warn({ timeoutMs: timeout }, 'shutdown timeout reached; closing remaining connections');
          server.closeAllConnections();
        }, timeout);
        await closed;
        clearTimeout(timer);
        stopSweeper();
        await webhooks.stop();
        await deps.liveAnswers.close();
        await deps.settleJournal.stop();
        await deps.mcp.close();
        // What the last requests settled goes to PostgreSQL before Redis closes.
        if (deps.env.MCPSTACK_HISTORY_DRAIN) await drainer.stop();
        await deps.redis.quit().catch(() => deps.redis.disconnect());
        await deps.history.close();
      })();
      return closing;
    },
  };
}

/** Persistence off means a Redis restart loses budgets, balances and the undrained history: say so loudly at start. */
export async function warnIfRedisNotPersistent(deps: Deps): Promise<void> {
  try {
    const node = 'nodes' in deps.redis ? deps.redis.nodes('master')[0] : deps.redis;
    if (!node) return;
    const info = await node.config('GET', 'appendonly');
    const save = await node.config('GET', 'save');
    const aof = Array.isArray(info) ? info[1] : undefined;
    const rdb = Array.isArray(save) ? save[1] : undefined;
    if (aof !== 'yes') {
      deps.logger.warn(
        { appendonly: aof, save: rdb },
        'Redis persistence (AOF) is off: a Redis restart would lose budgets, balances, conversations and the history not yet drained to PostgreSQL. Run Redis with appendonly yes in production.',
      );
    }
  } catch (error) {
    deps.logger.warn(
      { reason: String(error) },
      'could not read the Redis persistence settings (CONFIG GET denied?)',
    );
  }
}
