import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';

/** How many worker processes `MCPSTACK_WORKERS` asks for. */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

/**
 * The primary of `MCPSTACK_WORKERS` > 1: forks the workers, which share one listening port (the
 * primary hands out connections), replaces a worker that dies, and on SIGTERM or SIGINT passes the
 * signal on so that each worker drains its requests, then exits when the last one has. The service
 * is stateless (Redis holds everything), so the workers need nothing from each other.
 */
export function runPrimary(count: number, logger: Logger): void {
  let stopping = false;
  const fork = () => cluster.fork();
  cluster.on('exit', (worker: Worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('every worker stopped');
        process.exit(0);
      }
      return;
    }
    // A configuration error is the same in every worker: stop, as a single process would.
    if (code === 78) process.exit(78);
    logger.error({ pid: worker.process.pid, code, signal }, 'a worker died: starting another');
    setTimeout(fork, 1000).unref();
  });
  for (let i = 0; i < count; i++) fork();
  logger.info({ workers: count }, 'mcpstack chat service starting workers');
  for (const name of ['SIGTERM', 'SIGINT'] as const) {
    process.on(name, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal: name }, 'shutting down: workers finish their in-flight requests');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    });
  }
}
