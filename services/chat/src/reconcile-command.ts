import { parseArgs } from 'node:util';
import type { Deps } from './deps.ts';
import { type ReconcileReport, reconcileCredits } from './domain/credits/reconcile.ts';
import { readBooks, rebuildCounters } from './domain/history/books.ts';

export const reconcileUsage = 'Usage: npm run reconcile -- [--org <orgId> …] [--json] [--rebuild]';

function describe(report: ReconcileReport): string {
  const lines = [
    `${report.ok ? 'OK ' : 'FAIL'} ${report.organizationId}: balance ${report.balanceUsd} USD, ledger sum ${report.ledgerSumUsd} USD, ${report.entryCount} entries (${report.undrainedCount} not drained yet), ${report.creditedSessionCount}/${report.checkoutSessionCount} checkout sessions credited${report.stripeChecked ? '' : ' (Stripe not checked)'}`,
  ];
  for (const difference of report.differences) lines.push(`  - [${difference.kind}] ${difference.message}`);
  for (const warning of report.warnings) lines.push(`  ! ${warning}`);
  return lines.join('\n');
}

export interface CommandOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

/**
 * The reconcile command on a built world: proves each organization named (every one when none is),
 * after restoring its balance and counters from the history with `--rebuild`. Returns the exit
 * code: 0 clean, 1 differences (or an unknown organization), 2 bad arguments.
 */
export async function runReconcile(
  deps: Pick<Deps, 'redis' | 'keys' | 'clock' | 'stripe' | 'logger' | 'history' | 'stores'>,
  argv: string[],
  output: CommandOutput,
): Promise<number> {
  let options: { org: string[]; json: boolean; rebuild: boolean };
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        org: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        rebuild: { type: 'boolean', default: false },
      },
      strict: true,
    });
    options = { org: values.org ?? [], json: values.json ?? false, rebuild: values.rebuild ?? false };
  } catch (error) {
    output.stderr(`${error instanceof Error ? error.message : String(error)}\n${reconcileUsage}\n`);
    return 2;
  }
  let clean = true;
  const reports: ReconcileReport[] = [];
  const organizations =
    options.org.length > 0 ? options.org : await deps.redis.zrange(deps.keys.organizationsIndex, '0', '-1');
  for (const organizationId of organizations) {
    const exists = await deps.redis.exists(deps.keys.organization(organizationId).record);
    if (!exists) {
      output.stderr(`No organization ${organizationId}\n`);
      clean = false;
      continue;
    }
    if (options.rebuild) {
      await rebuildCounters(deps, organizationId, await readBooks(deps, organizationId));
      if (!options.json) output.stdout(`Rebuilt ${organizationId}'s balance and counters from the history\n`);
    }
    const report = await reconcileCredits(deps, organizationId);
    reports.push(report);
    clean &&= report.ok;
    if (!options.json) output.stdout(`${describe(report)}\n`);
  }
  if (options.json) output.stdout(`${JSON.stringify(reports, null, 2)}\n`);
  return clean ? 0 : 1;
}
