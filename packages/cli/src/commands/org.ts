import type { Command } from 'commander';
import { contextOf, examples, nextPageNote, paged, pageQuery } from '../context.ts';
import { table } from '../output.ts';

export function registerOrg(program: Command): void {
  const org = program
    .command('org')
    .description('Organizations (creating one takes the operator token)')
    .addHelpText('after', examples('mcpstack org list', 'mcpstack org create --name Acme --slug acme'));

  paged(org.command('list'))
    .description('List the organizations the key can see (its own; every one for the operator)')
    .addHelpText('after', examples('mcpstack org list', 'mcpstack org list --json'))
    .action(async (options: { limit?: number; cursor?: string }, command: Command) => {
      const context = await contextOf(command);
      const page = await context.call(
        context.api.GET('/api/v1/organizations', { params: { query: pageQuery(options) } }),
      );
      context.show(page, () =>
        table(page.data, [
          ['id', (row) => row.id],
          ['slug', (row) => row.slug],
          ['name', (row) => row.name],
          ['plan', (row) => row.planTier],
          ['agents', (row) => row.agentCount],
          ['servers', (row) => row.mcpServerCount],
          ['keys', (row) => row.apiKeyCount],
        ]),
      );
      nextPageNote(context, page.nextCursor);
    });

  org
    .command('create')
    .description('Create an organization (MCPSTACK_API_KEY must be the operator token)')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--slug <slug>', 'unique, lowercase, e.g. acme')
    .addHelpText(
      'after',
      examples(
        'MCPSTACK_API_KEY="$MCPSTACK_ADMIN_TOKEN" mcpstack org create --name Acme --slug acme',
        'MCPSTACK_API_KEY="$MCPSTACK_ADMIN_TOKEN" mcpstack api-keys create --org org_… --name first-admin --role admin',
      ),
    )
    .action(async (options: { name: string; slug: string }, command: Command) => {
      const context = await contextOf(command);
      const created = await context.call(
        context.api.POST('/api/v1/organizations', { body: { name: options.name, slug: options.slug } }),
      );
      context.show(created);
    });
}
