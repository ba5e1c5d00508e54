import type { Command } from 'commander';
import { type Context, collect, contextOf, examples, nextPageNote, paged, pageQuery } from '../context.ts';
import { UsageError } from '../errors.ts';
import { record, table } from '../output.ts';

function headersOf(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new UsageError(`--header "${line}": must be "Name: value"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** One server with its tools (`servers get` shows it, `servers tools` its tools). */
function getServer(context: Context, serverId: string) {
  return context.call(
    context.api.GET('/api/v1/organizations/{orgId}/mcp-servers/{serverId}', {
      params: { path: { orgId: context.organizationId(), serverId } },
    }),
  );
}

export function registerServers(program: Command): void {
  const servers = program
    .command('servers')
    .description('Remote MCP servers the agents use')
    .addHelpText(
      'after',
      examples(
        'mcpstack servers list --json',
        'mcpstack servers create --name Docs --slug docs --url https://mcp.example.com/mcp --header "Authorization: Bearer …"',
        'mcpstack servers tools mcp_…',
      ),
    );

  paged(servers.command('list'))
    .description('List MCP servers')
    .addHelpText('after', examples('mcpstack servers list', 'mcpstack servers list --json'))
    .action(async (options: { limit?: number; cursor?: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const page = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/mcp-servers', {
          params: { path: { orgId }, query: pageQuery(options) },
        }),
      );
      context.show(page, () =>
        table(page.data, [
          ['id', (row) => row.id],
          ['slug', (row) => row.slug],
          ['name', (row) => row.name],
          ['url', (row) => row.url],
          ['tools', (row) => row.toolCount],
          ['catalog', (row) => row.catalogStatus],
        ]),
      );
      nextPageNote(context, page.nextCursor);
    });

  servers
    .command('get')
    .description('Get a server (its tools: `servers tools`)')
    .argument('<serverId>')
    .addHelpText('after', examples('mcpstack servers get mcp_…', 'mcpstack servers get mcp_… --json'))
    .action(async (serverId: string, _options: unknown, command: Command) => {
      const context = await contextOf(command);
      const server = await getServer(context, serverId);
      const { tools, ...rest } = server;
      context.show(server, () => record({ ...rest, tools: tools.map((tool) => tool.name) }));
    });

  servers
    .command('create')
    .description('Register a remote MCP server (Streamable HTTP)')
    .requiredOption('--name <name>')
    .requiredOption('--url <url>', 'the Streamable HTTP endpoint')
    .requiredOption('--slug <slug>', 'unique in the organization, e.g. docs')
    .option('--description <text>')
    .option('--header <"Name: value">', 'sent to the server with every request (repeatable)', collect, [])
    .addHelpText(
      'after',
      examples(
        'mcpstack servers create --name Docs --slug docs --url https://mcp.example.com/mcp',
        'mcpstack servers create --name CRM --slug crm --url https://crm.example.com/mcp --header "Authorization: Bearer $CRM_TOKEN"',
      ),
    )
    .action(
      async (
        options: { name: string; url: string; slug: string; description?: string; header: string[] },
        command: Command,
      ) => {
        const context = await contextOf(command);
        const orgId = context.organizationId();
        const body = {
          name: options.name,
          url: options.url,
          slug: options.slug,
          ...(options.description !== undefined && { description: options.description }),
          ...(options.header.length > 0 && { headers: headersOf(options.header) }),
        };
        const created = await context.call(
          context.api.POST('/api/v1/organizations/{orgId}/mcp-servers', {
            params: { path: { orgId } },
            body,
          }),
        );
        context.show(created);
      },
    );

  servers
    .command('delete')
    .description('Remove a server (agents that use it lose its tools)')
    .argument('<serverId>')
    .addHelpText('after', examples('mcpstack servers delete mcp_…'))
    .action(async (serverId: string, _options: unknown, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      await context.call(
        context.api.DELETE('/api/v1/organizations/{orgId}/mcp-servers/{serverId}', {
          params: { path: { orgId, serverId } },
        }),
      );
      context.show({ id: serverId, deleted: true });
    });

  servers
    .command('tools')
    .description("List a server's tools, live")
    .argument('<serverId>')
    .addHelpText('after', examples('mcpstack servers tools mcp_…', 'mcpstack servers tools mcp_… --json'))
    .action(async (serverId: string, _options: unknown, command: Command) => {
      const context = await contextOf(command);
      const server = await getServer(context, serverId);
      context.show(server.tools, () =>
        table(server.tools, [
          ['id', (row) => row.id],
          ['name', (row) => row.name],
          ['enabled', (row) => row.isEnabled],
          ['description', (row) => row.descriptionOverride ?? row.description],
        ]),
      );
      if (server.catalogStatus === 'error' && !context.output.json) {
        context.output.note(
          `The server could not be listed (${server.catalogError}); these are the last known tools.\n`,
        );
      }
    });
}
