import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type Command, Option } from 'commander';
import { contextOf, examples, nextPageNote, positiveInteger, usd } from '../context.ts';
import { ApiRefusal, CommandFailure } from '../errors.ts';
import { record, table } from '../output.ts';

interface LedgerOptions {
  csv?: boolean;
  from?: string;
  to?: string;
  category?: 'purchases' | 'usage';
  type?: string;
  agent?: string;
  limit?: number;
  cursor?: string;
}

export function registerCredits(program: Command): void {
  const credits = program
    .command('credits')
    .description('AI credits: balance, buying, the ledger (finance)')
    .addHelpText(
      'after',
      examples(
        'mcpstack credits summary',
        'mcpstack credits buy --amount-usd 100',
        'mcpstack credits ledger --csv --from 2025-01-01T00:00:00Z --to 2025-02-01T00:00:00Z > january.csv',
      ),
    );

  credits
    .command('summary')
    .description('Balance, bought, granted, refunded and spent')
    .addHelpText('after', examples('mcpstack credits summary', 'mcpstack credits summary --json'))
    .action(async (_options: unknown, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const summary = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/ai-credits/summary', { params: { path: { orgId } } }),
      );
      context.show(summary);
    });

  credits
    .command('buy')
    .description('Start a Stripe Checkout for credits; open the URL it prints to pay')
    .requiredOption('--amount-usd <usd>', 'USD to pay, whole cents', usd)
    .addHelpText('after', examples('mcpstack credits buy --amount-usd 100'))
    .action(async (options: { amountUsd: number }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const session = await context.call(
        context.api.POST('/api/v1/organizations/{orgId}/ai-credits/checkout-session', {
          params: { path: { orgId } },
          body: { creditAmountUsd: options.amountUsd },
        }),
      );
      context.show(session);
    });

  credits
    .command('ledger')
    .description('The ledger, newest first: a table, --json pages, or every matching entry as CSV (--csv)')
    .option('--csv', "stream the API's CSV export to stdout, byte for byte")
    .option('--from <time>', 'entries at or after this ISO 8601 time')
    .option('--to <time>', 'entries before this ISO 8601 time')
    .addOption(new Option('--category <category>', 'purchases or usage').choices(['purchases', 'usage']))
    .option('--type <types>', 'entry types, comma-separated: purchase,grant,usage,refund,adjustment')
    .option('--agent <agentId>', 'only entries of this agent')
    .option('--limit <n>', 'entries per page, 1-500 (not with --csv)', positiveInteger)
    .option('--cursor <cursor>', 'the nextCursor of the previous page (or X-Next-Cursor of a CSV export)')
    .addHelpText(
      'after',
      examples(
        'mcpstack credits ledger --category purchases',
        'mcpstack credits ledger --csv --from 2025-01-01T00:00:00Z --to 2025-02-01T00:00:00Z > january.csv',
        'mcpstack credits ledger --json --limit 500',
      ),
    )
    .action(async (options: LedgerOptions, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const filters = {
        ...(options.from !== undefined && { from: options.from }),
        ...(options.to !== undefined && { to: options.to }),
        ...(options.category !== undefined && { category: options.category }),
        ...(options.type !== undefined && { type: options.type }),
        ...(options.agent !== undefined && { agentId: options.agent }),
        ...(options.cursor !== undefined && { cursor: options.cursor }),
      };
      if (options.csv) {
        const answer = await context.answer(
          context.api.GET('/api/v1/organizations/{orgId}/ai-credits/ledger', {
            params: { path: { orgId }, query: { ...filters, format: 'csv' } },
            parseAs: 'stream',
          }),
        );
        if (!answer.data)
          throw new ApiRefusal('empty_response', 'The API sent no CSV', answer.response.status);
        await pipeline(Readable.fromWeb(answer.data as WebReadableStream), process.stdout, { end: false });
        const nextCursor = answer.response.headers.get('x-next-cursor');
        if (nextCursor) context.output.note(`More entries: --cursor ${nextCursor}\n`);
        return;
      }
      const page = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/ai-credits/ledger', {
          params: {
            path: { orgId },
            query: { ...filters, ...(options.limit !== undefined && { limit: options.limit }) },
          },
        }),
      );
      context.show(page, () =>
        table(page.data, [
          ['id', (row) => row.id],
          ['created', (row) => row.createdAt],
          ['type', (row) => row.type],
          ['amount usd', (row) => row.amountUsd],
          ['balance usd', (row) => row.balanceAfterUsd],
          ['agent', (row) => row.reference.agentId],
          ['actor', (row) => row.actor],
          ['reason', (row) => row.reason],
        ]),
      );
      nextPageNote(context, page.nextCursor);
    });
}

export function registerReconcile(program: Command): void {
  program
    .command('reconcile')
    .description(
      'Prove the credits: balance = sum of the ledger, one purchase per paid Stripe session. Exits 1 when anything disagrees (admin role).',
    )
    .addHelpText('after', examples('mcpstack reconcile', 'mcpstack reconcile --org org_123 --json'))
    .action(async (_options: unknown, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const report = await context.call(
        context.api.POST('/api/v1/organizations/{orgId}/ai-credits/reconcile', {
          params: { path: { orgId } },
        }),
      );
      context.show(report, () => {
        const { differences, warnings, ...totals } = report;
        const lines = differences.map((difference) => `  - [${difference.kind}] ${difference.message}\n`);
        const notes = warnings.map((warning) => `  ! ${warning}\n`);
        return `${record(totals)}${lines.length > 0 ? `differences:\n${lines.join('')}` : ''}${notes.join('')}`;
      });
      if (!report.ok) {
        throw new CommandFailure(`reconcile: ${report.differences.length} difference(s) in ${orgId}`);
      }
    });
}
