import { type Command, Option } from 'commander';
import { contextOf, examples, nextPageNote, paged, pageQuery } from '../context.ts';
import { table } from '../output.ts';

const roles = ['admin', 'developer', 'viewer', 'billing'] as const;

export function registerApiKeys(program: Command): void {
  const keys = program
    .command('api-keys')
    .description('Service-account keys of the organization (admin role)')
    .addHelpText(
      'after',
      examples(
        'mcpstack api-keys list --org org_123',
        'mcpstack api-keys create --name automation-bot --role developer',
        'mcpstack api-keys revoke key_…',
      ),
    );

  paged(keys.command('list'))
    .description('List keys (never their secrets)')
    .addHelpText('after', examples('mcpstack api-keys list --org org_123', 'mcpstack api-keys list --json'))
    .action(async (options: { limit?: number; cursor?: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const page = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/api-keys', {
          params: { path: { orgId }, query: pageQuery(options) },
        }),
      );
      context.show(page, () =>
        table(page.data, [
          ['id', (row) => row.id],
          ['name', (row) => row.name],
          ['role', (row) => row.role],
          ['client id', (row) => row.clientId],
          ['created', (row) => row.createdAt],
          ['expires', (row) => row.expiresAt],
        ]),
      );
      nextPageNote(context, page.nextCursor);
    });

  keys
    .command('create')
    .description('Create a key; its secret is printed this once')
    .requiredOption('--name <name>', 'a label, e.g. automation-bot')
    .addOption(new Option('--role <role>', 'what the key may do').choices(roles).default('viewer'))
    .option('--expires-at <time>', 'ISO 8601 time the key stops working')
    .addHelpText(
      'after',
      examples(
        'mcpstack api-keys create --name automation-bot --role developer',
        'mcpstack api-keys create --name finance-export --role billing --expires-at 2030-01-01T00:00:00Z --json',
      ),
    )
    .action(
      async (
        options: { name: string; role: (typeof roles)[number]; expiresAt?: string },
        command: Command,
      ) => {
        const context = await contextOf(command);
        const orgId = context.organizationId();
        const created = await context.call(
          context.api.POST('/api/v1/organizations/{orgId}/api-keys', {
            params: { path: { orgId } },
            body: {
              name: options.name,
              role: options.role,
              ...(options.expiresAt !== undefined && { expiresAt: options.expiresAt }),
            },
          }),
        );
        context.show(created);
        if (!context.output.json) context.output.note('Store fullKey now: it is never shown again.\n');
      },
    );

  keys
    .command('revoke')
    .description('Revoke a key; it fails from its very next request')
    .argument('<keyId>', 'the key id, key_…')
    .addHelpText('after', examples('mcpstack api-keys revoke key_…'))
    .action(async (keyId: string, _options: unknown, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      await context.call(
        context.api.DELETE('/api/v1/organizations/{orgId}/api-keys/{keyId}', {
          params: { path: { orgId, keyId } },
        }),
      );
      context.show({ id: keyId, revoked: true });
    });
}
