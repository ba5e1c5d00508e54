import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Page, PageRequest } from '../../storage/collection.ts';
import type { McpServerRecord } from '../../storage/records.ts';
import { slugSchema } from '../organizations.ts';
import { checkedPublicUrl } from '../outbound/url-guard.ts';
import { headersInput, sealHeaders } from './server-headers.ts';
import {
  type CatalogDeps,
  forgetCatalogState,
  getServerTools,
  readCatalogState,
  toolsKey,
} from './tool-catalog.ts';
import { forgetCachedTools } from './tool-listing-cache.ts';
import { type McpServerDetail, type McpServerView, toServerView, toToolView } from './views.ts';

/**
 * The organization's registry of remote MCP servers: a URL plus the headers that authenticate to
 * it. A server is an entity of the `mcp-server` collection; its headers are sealed with the server
 * id as context (server-headers.ts); its tools are in the tool catalog (tool-catalog.ts).
 */

const serverFields = {
  name: z.string().trim().min(1).max(100),
  slug: slugSchema,
  url: z
    .string()
    .describe(
      'The Streamable HTTP endpoint, http(s), at most 2048 characters, no user:password@. Must resolve to a public address unless MCPSTACK_ALLOW_PRIVATE_URLS=true.',
    ),
  description: z.string().max(1000).nullable(),
};

export const createMcpServerInput = z
  .object({
    ...serverFields,
    description: serverFields.description.optional(),
    headers: headersInput.optional(),
  })
  .strict();
export const updateMcpServerInput = z
  .object({
    ...serverFields,
    headers: headersInput.nullable().describe('Replaces every stored header; null removes them all.'),
  })
  .partial()
  .strict();

export type CreateMcpServerInput = z.infer<typeof createMcpServerInput>;
export type UpdateMcpServerInput = z.infer<typeof updateMcpServerInput>;

type ServerDeps = CatalogDeps & Pick<Deps, 'stores'>;

const serverNotFound = (serverId: string) =>
  new ApiError('mcp_server_not_found', `No MCP server ${serverId} in this organization`);

export async function requireServer(deps: Pick<Deps, 'stores'>, organizationId: string, serverId: string) {
  const server = await deps.stores.mcpServers.get(organizationId, serverId);
  if (!server) throw serverNotFound(serverId);
  return server;
}

export async function createMcpServer(
  deps: ServerDeps,
  organizationId: string,
  input: CreateMcpServerInput,
): Promise<McpServerView> {
  const url = await checkedPublicUrl(input.url, deps.env.MCPSTACK_ALLOW_PRIVATE_URLS);
  const id = newId('mcpServer');
  const now = deps.clock.now().toISOString();
  const server: McpServerRecord = {
    id,
    organizationId,
    name: input.name,
    slug: input.slug,
    description: input.description ?? null,
    url,
    ...sealHeaders(deps, id, input.headers),
    createdOn: now,
    updatedAt: now,
  };
  if ((await deps.stores.mcpServers.create(organizationId, server)) === 'conflict') {
    throw new ApiError(
      'slug_taken',
      `An MCP server with the slug "${input.slug}" already exists in this organization`,
    );
  }
  deps.logger.info({ organizationId, mcpServerId: id, slug: server.slug }, 'mcp server registered');
  return toServerView(server, null);
}

export async function listMcpServers(
  deps: ServerDeps,
  organizationId: string,
  page: PageRequest,
): Promise<Page<McpServerView>> {
  const servers = await deps.stores.mcpServers.list(organizationId, page);
  const catalogs = await Promise.all(servers.data.map((server) => readCatalogState(deps, server)));
  return {
    data: servers.data.map((server, index) => toServerView(server, catalogs[index] ?? null)),
    nextCursor: servers.nextCursor,
  };
}

/** The server with its tools, listed live (or from the short cache); unreachable is a status, not an error. */
export async function getMcpServer(
  deps: ServerDeps,
  organizationId: string,
  serverId: string,
): Promise<McpServerDetail> {
  const server = await requireServer(deps, organizationId, serverId);
  const catalog = await getServerTools(deps, server, { cache: true });
  return { ...toServerView(server, catalog.state), tools: catalog.tools.map(toToolView) };
}

export async function updateMcpServer(
  deps: ServerDeps,
  organizationId: string,
  serverId: string,
  input: UpdateMcpServerInput,
): Promise<McpServerView> {
  const current = await requireServer(deps, organizationId, serverId);
  const url =
    input.url === undefined
      ? current.url
      : await checkedPublicUrl(input.url, deps.env.MCPSTACK_ALLOW_PRIVATE_URLS);
  const headers = input.headers === undefined ? {} : sealHeaders(deps, serverId, input.headers);
  const result = await deps.stores.mcpServers.update(organizationId, serverId, (server) => ({
    ...server,
    ...(input.name !== undefined && { name: input.name }),
    ...(input.slug !== undefined && { slug: input.slug }),
    ...(input.description !== undefined && { description: input.description }),
    url,
    ...headers,
    updatedAt: deps.clock.now().toISOString(),
  }));
  if (result.status === 'not_found') throw serverNotFound(serverId);
  if (result.status === 'conflict') {
    throw new ApiError(
      'slug_taken',
      `An MCP server with the slug "${input.slug}" already exists in this organization`,
    );
  }
  // Tools listed at another URL say nothing about this one; the settings stay, keyed by tool name.
  if (url !== current.url) await forgetCatalogState(deps, current);
  forgetCachedTools(deps.mcp, serverId);
  if (input.headers !== undefined || url !== current.url) {
    deps.logger.info(
      { organizationId, mcpServerId: serverId, headersChanged: input.headers !== undefined },
      'mcp server endpoint changed',
    );
  }
  const catalog = url === current.url ? await readCatalogState(deps, current) : null;
  return toServerView(result.value, catalog);
}

export async function deleteMcpServer(
  deps: ServerDeps,
  organizationId: string,
  serverId: string,
): Promise<void> {
  await requireServer(deps, organizationId, serverId);
  const agents = await deps.stores.agents.all(organizationId);
  const agentIds = agents.filter((agent) => agent.mcpServerIds.includes(serverId)).map((agent) => agent.id);
  if (agentIds.length > 0) {
    throw new ApiError(
      'mcp_server_in_use',
      `The MCP server is used by ${agentIds.length === 1 ? 'agent' : 'agents'} ${agentIds.join(', ')}; remove it from their mcpServerIds first`,
      { agentIds },
    );
  }
  const removed = await deps.stores.mcpServers.remove(
    organizationId,
    serverId,
    toolsKey(deps, { organizationId, id: serverId }),
  );
  if (!removed) throw serverNotFound(serverId);
  forgetCachedTools(deps.mcp, serverId);
  deps.logger.info({ organizationId, mcpServerId: serverId }, 'mcp server deleted');
}
