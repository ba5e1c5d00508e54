/**
 * `npm run reconcile -- [--org <orgId> …] [--json] [--rebuild]`: proves each organization's AI
 * credits (Redis's balance and counters = Σ of the history in PostgreSQL plus the undrained outbox,
 * one purchase entry per paid Stripe session) with the service's own environment; every
 * organization when no --org is given. Prints the differences; exits 1 when there are any, 78 on
 * a bad environment, 2 on bad arguments. `--rebuild` first restores the balances and the period
 * counters from the history (after a Redis loss; run it with the service stopped).
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createDeps } from './bootstrap.ts';
import { type ReconcileReport, reconcileCredits } from './domain/credits/reconcile.ts';
import { readBooks, rebuildCounters } from './domain/history/books.ts';
import { EnvError, parseEnv } from './env.ts';
import { createLogger } from './logger.ts';

function describe(report: ReconcileReport): string {
  const lines = [
    `${report.ok ? 'OK ' : 'FAIL'} ${report.organizationId}: balance ${report.balanceUsd} USD, ledger sum ${report.ledgerSumUsd} USD, ${report.entryCount} entries, ${report.creditedSessionCount}/${report.checkoutSessionCount} checkout sessions credited${report.stripeChecked ? '' : ' (Stripe not checked)'}`,
  ];
  for (const difference of report.differences) lines.push(`  - [${difference.kind}] ${difference.message}`);
  for (const warning of report.warnings) lines.push(`  ! ${warning}`);
  return lines.join('\n');
}

let options: { org: string[]; json: boolean; rebuild: boolean };
try {
  const { values } = parseArgs({
    options: {
      org: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      rebuild: { type: 'boolean', default: false },
    },
    strict: true,
  });
  options = { org: values.org ?? [], json: values.json ?? false, rebuild: values.rebuild ?? false };
} catch (error) {
  process.stderr.write(
    `${error instanceof Error ? error.message : String(error)}\nUsage: npm run reconcile -- [--org <orgId> …] [--json] [--rebuild]\n`,
  );
  process.exit(2);
}

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

let clean = true;
try {
  const reports: ReconcileReport[] = [];
  const organizations =
    options.org.length > 0 ? options.org : await deps.redis.zrange(deps.keys.organizationsIndex, '0', '-1');
  for (const organizationId of organizations) {
    const exists = await deps.redis.exists(deps.keys.organization(organizationId).record);
    if (!exists) {
      process.stderr.write(`No organization ${organizationId}\n`);
      clean = false;
      continue;
    }
    if (options.rebuild) {
      await rebuildCounters(deps, organizationId, await readBooks(deps, organizationId));
      if (!options.json) process.stdout.write(`Rebuilt ${organizationId}'s balance and counters from the history\n`);
    }
    const report = await reconcileCredits(deps, organizationId);
    reports.push(report);
    clean &&= report.ok;
    if (!options.json) process.stdout.write(`${describe(report)}\n`);
  }
  if (options.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
} finally {
  await deps.mcpPool.close();
  await deps.redis.quit().catch(() => deps.redis.disconnect());
  await deps.history.close();
}
process.exit(clean ? 0 : 1);
