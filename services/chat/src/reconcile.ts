/**
 * `npm run reconcile -- [--org <orgId> …] [--json] [--rebuild]`: proves each organization's AI
 * credits (Redis's balance and counters = Σ of the history in PostgreSQL plus the undrained outbox,
 * one purchase entry per paid Stripe session) with the service's own environment; every
 * organization when no --org is given. Prints the differences; exits 1 when there are any, 78 on
 * a bad environment, 2 on bad arguments. `--rebuild` first restores the balances and the period
 * counters from the history (after a Redis loss; run it with the service stopped). With the
 * embedded PGlite, stop the service first: one process at a time opens its files.
 */
import { pino } from 'pino';
import { createDeps } from './bootstrap.ts';
import { EnvError, parseEnv } from './env.ts';
import { createLogger } from './logger.ts';
import { runReconcile } from './reconcile-command.ts';

let deps: ReturnType<typeof createDeps>;
try {
  const env = parseEnv(process.env);
  // Logs go to stderr: stdout is the report (--json output stays parseable).
  deps = createDeps(env, { logger: createLogger('warn', pino.destination({ fd: 2, sync: true })) });
} catch (error) {
  if (!(error instanceof EnvError)) throw error;
  process.stderr.write(`${error.message}\nSee the README's Configuration section.\n`);
  process.exit(78);
}

let code = 1;
try {
  code = await runReconcile(deps, process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
} finally {
  await deps.mcp.close();
  await deps.redis.quit().catch(() => deps.redis.disconnect());
  await deps.history.close();
}
process.exit(code);
