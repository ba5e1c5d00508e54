import type { Command } from 'commander';
import { contextOf, examples, nextPageNote, paged, pageQuery } from '../context.ts';
import { record, scalarColumns, table } from '../output.ts';

export function registerUsage(program: Command): void {
  const usage = program
    .command('usage')
    .description('Spend and LLM calls: per agent, per user, the call log')
    .addHelpText(
      'after',
      examples(
        'mcpstack usage agent agent_…',
        'mcpstack usage users agent_…',
        'mcpstack usage llm-calls agent_… --limit 20',
      ),
    );

  usage
    .command('agent')
    .description("An agent's spend, calls and tokens this budget period, and by day")
    .argument('<agentId>')
    .addHelpText('after', examples('mcpstack usage agent agent_…', 'mcpstack usage agent agent_… --json'))
    .action(async (agentId: string, _options: unknown, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const result = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/agents/{agentId}/usage', {
          params: { path: { orgId, agentId } },
        }),
      );
      context.show(result, () => {
        const { byDay, ...totals } = result;
        return `${record(totals)}\n${table(byDay, scalarColumns(byDay))}`;
      });
    });

  paged(usage.command('users'))
    .description('Per-user spend this period, highest first')
    .argument('<agentId>')
    .addHelpText('after', examples('mcpstack usage users agent_…', 'mcpstack usage users agent_… --json'))
    .action(async (agentId: string, options: { limit?: number; cursor?: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const page = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/agents/{agentId}/usage/users', {
          params: { path: { orgId, agentId }, query: pageQuery(options) },
        }),
      );
      context.show(page, () => table(page.data, scalarColumns(page.data)));
      nextPageNote(context, page.nextCursor);
    });

  paged(usage.command('llm-calls'))
    .description("An agent's LLM-call log, newest first")
    .argument('<agentId>')
    .addHelpText(
      'after',
      examples('mcpstack usage llm-calls agent_… --limit 20', 'mcpstack usage llm-calls agent_… --json'),
    )
    .action(async (agentId: string, options: { limit?: number; cursor?: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const page = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/agents/{agentId}/usage/llm-calls', {
          params: { path: { orgId, agentId }, query: pageQuery(options) },
        }),
      );
      context.show(page, () =>
        table(page.data, [
          ['id', (row) => row.id],
          ['created', (row) => row.createdAt],
          ['model', (row) => row.model],
          ['user', (row) => row.externalUserId ?? row.visitorId],
          ['input', (row) => row.inputTokens],
          ['output', (row) => row.outputTokens],
          ['cost usd', (row) => row.costUsd],
          ['status', (row) => row.status],
        ]),
      );
      nextPageNote(context, page.nextCursor);
    });
}
