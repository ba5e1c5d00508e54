import type { Command } from 'commander';
import { collect, contextOf, examples } from '../context.ts';
import { UsageError } from '../errors.ts';
import { table } from '../output.ts';

export function registerEmbedKeys(program: Command): void {
  const embedKeys = program
    .command('embed-keys')
    .description("An agent's publishable keys (mcpstack_pk_…) and the origins they work from")
    .addHelpText(
      'after',
      examples(
        'mcpstack embed-keys list --agent agent_…',
        'mcpstack embed-keys create --agent agent_… --origin https://www.example.com',
      ),
    );

  embedKeys
    .command('list')
    .description('List the embed keys of an agent')
    .requiredOption('--agent <agentId>')
    .addHelpText('after', examples('mcpstack embed-keys list --agent agent_… --json'))
    .action(async (options: { agent: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const result = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys', {
          params: { path: { orgId, agentId: options.agent } },
        }),
      );
      context.show(result, () =>
        table(result.data, [
          ['id', (row) => row.id],
          ['name', (row) => row.name],
          ['public key', (row) => row.publicKey],
          ['origins', (row) => row.allowedOrigins],
        ]),
      );
    });

  embedKeys
    .command('create')
    .description('Create an embed key for the given origins')
    .requiredOption('--agent <agentId>')
    .option('--origin <origin>', 'an exact origin the key works from (repeatable)', collect, [])
    .option('--name <name>', 'a label for people')
    .addHelpText(
      'after',
      examples(
        'mcpstack embed-keys create --agent agent_… --origin https://www.example.com --origin https://example.com',
      ),
    )
    .action(async (options: { agent: string; origin: string[]; name?: string }, command: Command) => {
      if (options.origin.length === 0) throw new UsageError('Pass at least one --origin https://…');
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const created = await context.call(
        context.api.POST('/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys', {
          params: { path: { orgId, agentId: options.agent } },
          body: { allowedOrigins: options.origin, ...(options.name !== undefined && { name: options.name }) },
        }),
      );
      context.show(created);
    });

  embedKeys
    .command('revoke')
    .description('Revoke an embed key; pages using it stop chatting at once')
    .argument('<keyId>')
    .requiredOption('--agent <agentId>')
    .addHelpText('after', examples('mcpstack embed-keys revoke ek_… --agent agent_…'))
    .action(async (keyId: string, options: { agent: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      await context.call(
        context.api.DELETE('/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys/{keyId}', {
          params: { path: { orgId, agentId: options.agent, keyId } },
        }),
      );
      context.show({ id: keyId, revoked: true });
    });
}

export function registerDomains(program: Command): void {
  const domains = program
    .command('domains')
    .description('Verified domains an agent may be embedded on (a DNS TXT record proves each)')
    .addHelpText(
      'after',
      examples(
        'mcpstack domains add example.com --agent agent_…',
        'mcpstack domains confirm dom_… --agent agent_…',
      ),
    );

  domains
    .command('list')
    .description("List an agent's domains and their status")
    .requiredOption('--agent <agentId>')
    .addHelpText('after', examples('mcpstack domains list --agent agent_…'))
    .action(async (options: { agent: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const result = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/agents/{agentId}/verified-domains', {
          params: { path: { orgId, agentId: options.agent } },
        }),
      );
      context.show(result, () =>
        table(result.data, [
          ['id', (row) => row.id],
          ['domain', (row) => row.domain],
          ['status', (row) => row.status],
          ['txt record', (row) => `${row.dnsRecord.name} ${row.dnsRecord.value}`],
        ]),
      );
    });

  domains
    .command('add')
    .description('Add a domain; publish the TXT record it answers, then confirm')
    .argument('<domain>', 'e.g. example.com (its subdomains are covered too)')
    .requiredOption('--agent <agentId>')
    .addHelpText('after', examples('mcpstack domains add example.com --agent agent_…'))
    .action(async (domain: string, options: { agent: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const created = await context.call(
        context.api.POST('/api/v1/organizations/{orgId}/agents/{agentId}/verified-domains', {
          params: { path: { orgId, agentId: options.agent } },
          body: { domain },
        }),
      );
      context.show(created);
    });

  domains
    .command('confirm')
    .description('Look the TXT record up now and mark the domain verified')
    .argument('<domainId>')
    .requiredOption('--agent <agentId>')
    .addHelpText('after', examples('mcpstack domains confirm dom_… --agent agent_…'))
    .action(async (domainId: string, options: { agent: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const confirmed = await context.call(
        context.api.POST(
          '/api/v1/organizations/{orgId}/agents/{agentId}/verified-domains/{domainId}/confirm',
          {
            params: { path: { orgId, agentId: options.agent, domainId } },
          },
        ),
      );
      context.show(confirmed);
    });

  domains
    .command('remove')
    .description('Remove a domain')
    .argument('<domainId>')
    .requiredOption('--agent <agentId>')
    .addHelpText('after', examples('mcpstack domains remove dom_… --agent agent_…'))
    .action(async (domainId: string, options: { agent: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      await context.call(
        context.api.DELETE('/api/v1/organizations/{orgId}/agents/{agentId}/verified-domains/{domainId}', {
          params: { path: { orgId, agentId: options.agent, domainId } },
        }),
      );
      context.show({ id: domainId, removed: true });
    });
}
