import { createDeps, startServer, warnIfRedisNotPersistent } from './bootstrap.ts';
import { EnvError, parseEnv } from './env.ts';

let deps: ReturnType<typeof createDeps>;
try {
  deps = createDeps(parseEnv(process.env), { defaultMetrics: true });
} catch (error) {
  if (!(error instanceof EnvError)) throw error;
  process.stderr.write(`${error.message}\nSee the README's Configuration section.\n`);
  process.exit(78);
}

await warnIfRedisNotPersistent(deps);
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
