import cluster from 'node:cluster';
import { createDeps, startServer, warnIfRedisNotPersistent } from './bootstrap.ts';
import { runPrimary, workerCount } from './cluster.ts';
import { type Env, EnvError, parseEnv } from './env.ts';
import { createLogger } from './logger.ts';

/** A configuration error (a bad variable, a bad model catalog) exits 78 and says what is wrong. */
function configured<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof EnvError)) throw error;
    process.stderr.write(`${error.message}\nSee the README's Configuration section.\n`);
    process.exit(78);
  }
}

const env = configured(() => parseEnv(process.env));

const workers = workerCount(env.MCPSTACK_WORKERS);
if (workers > 1 && cluster.isPrimary) {
  runPrimary(workers, createLogger(env.MCPSTACK_LOG_LEVEL));
} else {
  await serve(env);
}

async function serve(env: Env): Promise<void> {
  const deps = configured(() => createDeps(env, { defaultMetrics: true }));
  // Once per service, not once per worker.
  if (cluster.isPrimary || cluster.worker?.id === 1) await warnIfRedisNotPersistent(deps);
  const running = await startServer(deps);
  deps.logger.info({ url: running.url }, 'mcpstack chat service listening');

  let shuttingDown = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      // A second signal while draining does not cut requests short; the shutdown timeout bounds it.
      if (shuttingDown) {
        deps.logger.info({ signal }, 'already shutting down');
        return;
      }
      shuttingDown = true;
      deps.logger.info({ signal }, 'shutting down: finishing in-flight requests');
      running.close().then(
        () => process.exit(0),
        (error: unknown) => {
          deps.logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}
