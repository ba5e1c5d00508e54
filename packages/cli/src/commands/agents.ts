import type { Command } from 'commander';
import { collect, contextOf, examples, nextPageNote, paged, pageQuery, positiveInteger } from '../context.ts';
import { UsageError } from '../errors.ts';
import { table } from '../output.ts';

interface AgentOptions {
  name?: string;
  description?: string;
  model?: string;
  instructions?: string;
  mcpServer: string[];
  maxOutputTokens?: number;
  maxSteps?: number;
  temperature?: string;
  welcomeMessage?: string;
  body?: string;
}

function withAgentOptions(command: Command): Command {
  return command
    .option('--name <name>')
    .option('--description <text>')
    .option('--model <modelId>', 'an id of GET /agent-model-options')
    .option('--instructions <text>', 'the system prompt')
    .option('--mcp-server <serverId>', 'an MCP server the agent may use (repeatable)', collect, [])
    .option('--max-output-tokens <n>', 'output cap of each LLM call', positiveInteger)
    .option('--max-steps <n>', 'most LLM calls per message', positiveInteger)
    .option('--temperature <t>', '0-2, or none')
    .option('--welcome-message <text>')
    .option('--body <json>', 'more fields as a JSON object, sent as they are (the API validates them)');
}

/** The request body from the flags; `--body` first, so a flag wins over the same field in it. */
function agentBody(options: AgentOptions): Record<string, unknown> {
  let extra: unknown = {};
  if (options.body !== undefined) {
    try {
      extra = JSON.parse(options.body);
    } catch {
      throw new UsageError('--body: must be a JSON object');
    }
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) {
      throw new UsageError('--body: must be a JSON object');
    }
  }
  let temperature: number | null | undefined;
  if (options.temperature !== undefined) {
    temperature = options.temperature === 'none' ? null : Number(options.temperature);
    if (temperature !== null && !Number.isFinite(temperature)) {
      throw new UsageError('--temperature: must be a number from 0 to 2, or none');
    }
  }
  return {
    ...(extra as Record<string, unknown>),
    ...(options.name !== undefined && { name: options.name }),
    ...(options.description !== undefined && { description: options.description }),
    ...(options.model !== undefined && { model: options.model }),
    ...(options.instructions !== undefined && { instructions: options.instructions }),
    ...(options.mcpServer.length > 0 && { mcpServerIds: options.mcpServer }),
    ...(options.maxOutputTokens !== undefined && { maxOutputTokens: options.maxOutputTokens }),
    ...(options.maxSteps !== undefined && { maxSteps: options.maxSteps }),
    ...(temperature !== undefined && { temperature }),
    ...(options.welcomeMessage !== undefined && { welcomeMessage: options.welcomeMessage }),
  };
}

export function registerAgents(program: Command): void {
  const agents = program
    .command('agents')
    .description('Agents: model, instructions, MCP servers, widget settings')
    .addHelpText(
      'after',
      examples(
        'mcpstack agents list',
        'mcpstack agents create --name Support --instructions "Answer briefly." --mcp-server mcp_…',
        'mcpstack agents update agent_… --max-steps 4',
      ),
    );

  paged(agents.command('list'))
    .description('List agents')
    .addHelpText('after', examples('mcpstack agents list', 'mcpstack agents list --json'))
    .action(async (options: { limit?: number; cursor?: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const page = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/agents', {
          params: { path: { orgId }, query: pageQuery(options) },
        }),
      );
      context.show(page, () =>
        table(page.data, [
          ['id', (row) => row.id],
          ['name', (row) => row.name],
          ['model', (row) => row.model],
          ['mcp servers', (row) => row.mcpServerIds],
          ['max steps', (row) => row.maxSteps],
        ]),
      );
      nextPageNote(context, page.nextCursor);
    });

  agents
    .command('get')
    .description('Get an agent')
    .argument('<agentId>')
    .addHelpText('after', examples('mcpstack agents get agent_…', 'mcpstack agents get agent_… --json'))
    .action(async (agentId: string, _options: unknown, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const agent = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/agents/{agentId}', {
          params: { path: { orgId, agentId } },
        }),
      );
      context.show(agent);
    });

  withAgentOptions(agents.command('create'))
    .description('Create an agent (--name is required)')
    .addHelpText(
      'after',
      examples(
        'mcpstack agents create --name Support --instructions "Answer briefly."',
        `mcpstack agents create --name Docs --body '{"starterPrompts":["What is new?"],"theme":{"colorScheme":"dark"}}'`,
      ),
    )
    .action(async (options: AgentOptions, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const body = agentBody(options);
      if (typeof body.name !== 'string') throw new UsageError('--name is required');
      const agent = await context.call(
        context.api.POST('/api/v1/organizations/{orgId}/agents', {
          params: { path: { orgId } },
          body: body as { name: string },
        }),
      );
      context.show(agent);
    });

  withAgentOptions(agents.command('update').argument('<agentId>'))
    .description('Change some fields of an agent')
    .addHelpText(
      'after',
      examples(
        'mcpstack agents update agent_… --max-steps 4',
        `mcpstack agents update agent_… --body '{"welcomeMessage":null}'`,
      ),
    )
    .action(async (agentId: string, options: AgentOptions, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const body = agentBody(options);
      if (Object.keys(body).length === 0)
        throw new UsageError('Nothing to update: pass a field option or --body');
      const agent = await context.call(
        context.api.PATCH('/api/v1/organizations/{orgId}/agents/{agentId}', {
          params: { path: { orgId, agentId } },
          body,
        }),
      );
      context.show(agent);
    });

  agents
    .command('delete')
    .description('Delete an agent, its embed keys and budgets')
    .argument('<agentId>')
    .addHelpText('after', examples('mcpstack agents delete agent_…'))
    .action(async (agentId: string, _options: unknown, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      await context.call(
        context.api.DELETE('/api/v1/organizations/{orgId}/agents/{agentId}', {
          params: { path: { orgId, agentId } },
        }),
      );
      context.show({ id: agentId, deleted: true });
    });
}
