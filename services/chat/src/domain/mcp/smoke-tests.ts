import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { endpointOf } from './server-headers.ts';
import { requireServer } from './servers.ts';
import { type CatalogDeps, getServerTools } from './tool-catalog.ts';
import { type ToolView, toToolView } from './views.ts';

/**
 * A developer's check that a server works: tools/list and tools/call against the live server, each
 * in a fresh session, so they show that the server accepts a new session with the stored headers
 * now, not only that an older session still answers.
 */

export const smokeCallInput = z
  .object({ arguments: z.record(z.string(), z.unknown()).default({}).describe('The tool arguments.') })
  .strict();

export interface SmokeCallResult {
  toolName: string;
  isError: boolean;
  content: unknown[];
  structuredContent: unknown;
  durationMs: number;
}

type SmokeDeps = CatalogDeps & Pick<Deps, 'stores'>;

/** tools/list against the live server, bypassing the cache; only the tools agents may use. */
export async function smokeListTools(
  deps: SmokeDeps,
  organizationId: string,
  serverId: string,
): Promise<{ tools: ToolView[] }> {
  const server = await requireServer(deps, organizationId, serverId);
  const catalog = await getServerTools(deps, server, { cache: false, session: 'fresh' });
  if (catalog.failure) throw catalog.failure;
  return { tools: catalog.tools.filter((tool) => tool.isEnabled).map(toToolView) };
}

/** tools/call of one enabled tool, exactly as an agent would call it. */
export async function smokeCallTool(
  deps: SmokeDeps,
  organizationId: string,
  serverId: string,
  toolName: string,
  args: Record<string, unknown>,
): Promise<SmokeCallResult> {
  const server = await requireServer(deps, organizationId, serverId);
  let catalog = await getServerTools(deps, server, { cache: true });
  let tool = catalog.tools.find((entry) => entry.name === toolName);
  // A cached listing may predate a tool the server just gained: look once more, live.
  if (!tool && !catalog.failure) {
    catalog = await getServerTools(deps, server, { cache: false, session: 'fresh' });
    tool = catalog.tools.find((entry) => entry.name === toolName);
  }
  if (catalog.failure) throw catalog.failure;
  if (!tool) throw new ApiError('tool_not_found', `MCP server ${server.slug} lists no tool "${toolName}"`);
  if (!tool.isEnabled) {
    throw new ApiError(
      'tool_disabled',
      `The tool "${toolName}" is disabled for this organization; enable it with PATCH …/mcp-servers/${serverId}/tools/${tool.id}`,
      { toolId: tool.id },
    );
  }
  const started = performance.now();
  const result = await deps.mcp.callTool(endpointOf(deps, server), toolName, args, { session: 'fresh' });
  return {
    toolName,
    isError: result.isError,
    content: result.content,
    structuredContent: result.structuredContent ?? null,
    durationMs: Math.round(performance.now() - started),
  };
}
