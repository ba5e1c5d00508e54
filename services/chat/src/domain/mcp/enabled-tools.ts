import type { Deps } from '../../deps.ts';
import type { McpServerRecord, ToolRecord } from '../../storage/records.ts';
import type { McpEndpoint } from './client.ts';
import { endpointOf } from './server-headers.ts';
import { type CatalogDeps, getServerTools } from './tool-catalog.ts';

/** The tools an agent may call, for the chat runtime: enabled ones, described for the model. */

export interface EnabledMcpTool {
  id: string;
  name: string;
  /** The organization's display name, else the server's title; null when neither is set. */
  displayName: string | null;
  /** What the agent reads: see `agentToolDescription`. */
  description: string;
  inputSchema: Record<string, unknown> | null;
}

export interface AgentMcpServer {
  serverId: string;
  slug: string;
  name: string;
  endpoint: McpEndpoint;
  tools: EnabledMcpTool[];
  /** Why the server offers no tools right now (unreachable, …); null when it was listed. */
  error: string | null;
}

/**
 * The description an agent sees: the override (or the server's own), then the organization's
 * guidance, so the model reads when and how to use the tool next to what it does.
 */
export function agentToolDescription(
  tool: Pick<
    ToolRecord,
    'description' | 'descriptionOverride' | 'instructions' | 'whenToUse' | 'whenNotToUse'
  >,
): string {
  const parts = [tool.descriptionOverride ?? tool.description ?? ''];
  if (tool.whenToUse) parts.push(`When to use: ${tool.whenToUse}`);
  if (tool.whenNotToUse) parts.push(`When not to use: ${tool.whenNotToUse}`);
  if (tool.instructions) parts.push(`Instructions: ${tool.instructions}`);
  return parts
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join('\n\n');
}

/**
 * The enabled tools of the given servers of an organization, from the cached listing. A server
 * that cannot be listed offers no tools (its error says why) rather than failing the chat; ids
 * that name no server of the organization are skipped.
 */
export async function listEnabledTools(
  deps: CatalogDeps & Pick<Deps, 'stores'>,
  organizationId: string,
  serverIds: readonly string[],
): Promise<AgentMcpServer[]> {
  const servers = await Promise.all(serverIds.map((id) => deps.stores.mcpServers.get(organizationId, id)));
  const found = servers.filter((server): server is McpServerRecord => server !== null);
  return Promise.all(
    found.map(async (server) => {
      const catalog = await getServerTools(deps, server, { cache: true });
      const tools = catalog.failure
        ? []
        : catalog.tools
            .filter((tool) => tool.isEnabled)
            .map((tool) => ({
              id: tool.id,
              name: tool.name,
              displayName: tool.displayName ?? tool.title,
              description: agentToolDescription(tool),
              inputSchema: tool.inputSchema,
            }));
      return {
        serverId: server.id,
        slug: server.slug,
        name: server.name,
        endpoint: endpointOf(deps, server),
        tools,
        error: catalog.failure?.message ?? null,
      };
    }),
  );
}
