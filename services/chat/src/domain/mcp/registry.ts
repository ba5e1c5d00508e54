import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Page, PageRequest } from '../../storage/collection.ts';
import { type McpServerRecord, type ToolRecord, toolRecord } from '../../storage/records.ts';
import { slugSchema } from '../organizations.ts';
import type { McpCallResult, McpClient, McpEndpoint, McpToolDescriptor } from './client.ts';
import { assertPublicUrl, parseServerUrl } from '../outbound/url-guard.ts';

/**
 * The organization's registry of remote MCP servers (a URL plus the headers that authenticate to
 * it) and its settings for each tool those servers list.
 *
 * Storage: the server is an entity of the `mcp-server` collection; its headers are sealed with the
 * server id as context. The hash `mcpTools(serverId)` holds one `toolRecord` per tool id, plus one
 * field `catalogField` with the state of the last listing (status, error, the tool ids it listed),
 * so every replica reports the same "last known tools" when the server cannot be reached.
 */

const maxHeaders = 20;
/** Headers the MCP transport sets itself; a stored value would break or spoof the protocol. */
const reservedHeaders = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
]);
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const headersInput = z
  .record(z.string(), z.string())
  .superRefine((headers, context) => {
    const names = Object.keys(headers);
    if (names.length > maxHeaders) {
      context.addIssue({ code: 'custom', message: `at most ${maxHeaders} headers (got ${names.length})` });
    }
    const seen = new Set<string>();
    for (const name of names) {
      const lower = name.toLowerCase();
      const value = headers[name] ?? '';
      const fail = (message: string) => context.addIssue({ code: 'custom', path: [name], message });
      if (name.length === 0 || name.length > 100 || !headerNamePattern.test(name)) {
        fail("must be an HTTP header name: 1-100 letters, digits or !#$%&'*+-.^_`|~");
      } else if (reservedHeaders.has(lower)) {
        fail('is set by the MCP transport and cannot be stored');
      } else if (seen.has(lower)) {
        fail('is given twice (header names are case-insensitive)');
      }
      seen.add(lower);
      if (/[\r\n\0]/.test(value)) fail('must not contain line breaks or NUL');
      else if (value.length > 8192) fail('must be at most 8192 characters');
    }
  })
  .describe(
    'Sent with every request to the server, e.g. {"Authorization": "Bearer …"}. Stored encrypted and never returned: responses list only headerNames.',
  );

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

const nullableText = (max: number) => z.string().max(max).nullable();
export const patchToolInput = z
  .object({
    isEnabled: z.boolean().describe('Disabled tools are hidden from agents and refused by the smoke call.'),
    displayName: z.string().trim().min(1).max(200).nullable(),
    descriptionOverride: nullableText(4000).describe(
      "Replaces the server's description of the tool for agents.",
    ),
    instructions: nullableText(4000).describe('How the agent must use the tool; added to its description.'),
    whenToUse: nullableText(2000),
    whenNotToUse: nullableText(2000),
  })
  .partial()
  .strict();
export const smokeCallInput = z
  .object({ arguments: z.record(z.string(), z.unknown()).default({}).describe('The tool arguments.') })
  .strict();

export type CreateMcpServerInput = z.infer<typeof createMcpServerInput>;
export type UpdateMcpServerInput = z.infer<typeof updateMcpServerInput>;
export type PatchToolInput = z.infer<typeof patchToolInput>;

export type CatalogStatus = 'unknown' | 'ok' | 'error';

export interface McpServerView {
  id: string;
  organizationId: string;
  name: string;
  slug: string;
  description: string | null;
  url: string;
  headerNames: string[];
  toolCount: number;
  catalogStatus: CatalogStatus;
  catalogError: string | null;
  createdOn: string;
  updatedAt: string;
}

export interface ToolView {
  id: string;
  name: string;
  toolKey: string;
  title: string | null;
  /** The organization's display name, else the server's title; null when neither is set. */
  displayName: string | null;
  description: string | null;
  descriptionOverride: string | null;
  isEnabled: boolean;
  instructions: string | null;
  whenToUse: string | null;
  whenNotToUse: string | null;
  inputSchema: Record<string, unknown> | null;
}

export interface McpServerDetail extends McpServerView {
  tools: ToolView[];
}

export interface SmokeCallResult {
  toolName: string;
  isError: boolean;
  content: unknown[];
  structuredContent: unknown;
  durationMs: number;
}

type RegistryDeps = Pick<
  Deps,
  'env' | 'redis' | 'scripts' | 'keys' | 'stores' | 'clock' | 'secretBox' | 'mcp' | 'logger'
>;

// ---------------------------------------------------------------------------------------------
// Ids, views and stored state

const base32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * `tool_` + 22 lowercase base32 characters of sha256(serverId \0 name): the same tool of the same
 * server always has the same id, on every replica, without a lookup table.
 */
export function toolIdFor(serverId: string, toolName: string): string {
  const digest = createHash('sha256').update(`${serverId}\0${toolName}`).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 22) {
      out += base32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
    if (out.length === 22) break;
  }
  return `tool_${out}`;
}

/** The hash field holding the last listing's state; tool ids (`tool_…`) can never collide with it. */
const catalogField = '_catalog';
const catalogState = z.object({
  status: z.enum(['ok', 'error']),
  error: z.string().nullable(),
  checkedAt: z.string(),
  /** The ids of the last successful listing, in the server's order: the "last known tools". */
  toolIds: z.array(z.string()),
});
type CatalogState = z.infer<typeof catalogState>;

function parseCatalog(raw: string | null | undefined): CatalogState | null {
  if (!raw) return null;
  return catalogState.parse(JSON.parse(raw));
}

function toServerView(server: McpServerRecord, catalog: CatalogState | null): McpServerView {
  return {
    id: server.id,
    organizationId: server.organizationId,
    name: server.name,
    slug: server.slug,
    description: server.description,
    url: server.url,
    headerNames: server.headerNames,
    toolCount: catalog?.toolIds.length ?? 0,
    catalogStatus: catalog?.status ?? 'unknown',
    catalogError: catalog?.error ?? null,
    createdOn: server.createdOn,
    updatedAt: server.updatedAt,
  };
}

export function toToolView(tool: ToolRecord): ToolView {
  return {
    id: tool.id,
    name: tool.name,
    toolKey: tool.name,
    title: tool.title,
    displayName: tool.displayName,
    description: tool.description,
    descriptionOverride: tool.descriptionOverride,
    isEnabled: tool.isEnabled,
    instructions: tool.instructions,
    whenToUse: tool.whenToUse,
    whenNotToUse: tool.whenNotToUse,
    inputSchema: tool.inputSchema,
  };
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

const openedHeaders = z.record(z.string(), z.string());

function sealHeaders(
  deps: RegistryDeps,
  serverId: string,
  headers: Record<string, string> | null | undefined,
) {
  const names = Object.keys(headers ?? {});
  if (!headers || names.length === 0) return { headerNames: [], sealedHeaders: null };
  return { headerNames: names, sealedHeaders: deps.secretBox.seal(JSON.stringify(headers), serverId) };
}

/** The URL and opened headers of a server: the only place stored credentials are decrypted. */
export function endpointOf(deps: Pick<Deps, 'secretBox'>, server: McpServerRecord): McpEndpoint {
  if (server.sealedHeaders === null) return { url: server.url, headers: {} };
  let plaintext: string;
  try {
    plaintext = deps.secretBox.open(server.sealedHeaders, server.id);
  } catch {
    throw new Error(
      `The stored headers of MCP server ${server.id} cannot be decrypted: was MCPSTACK_SECRET_KEY changed? Set them again with PATCH.`,
    );
  }
  return { url: server.url, headers: openedHeaders.parse(JSON.parse(plaintext)) };
}

// ---------------------------------------------------------------------------------------------
// Servers

async function requireServer(
  deps: RegistryDeps,
  organizationId: string,
  serverId: string,
): Promise<McpServerRecord> {
  const server = await deps.stores.mcpServers.get(organizationId, serverId);
  if (!server) throw new ApiError('mcp_server_not_found', `No MCP server ${serverId} in this organization`);
  return server;
}

function toolsKey(deps: RegistryDeps, server: Pick<McpServerRecord, 'organizationId' | 'id'>): string {
  return deps.keys.organization(server.organizationId).mcpTools(server.id);
}

async function checkedUrl(deps: RegistryDeps, raw: string): Promise<string> {
  const url = parseServerUrl(raw);
  await assertPublicUrl(url, deps.env.MCPSTACK_ALLOW_PRIVATE_URLS);
  return url.href;
}

export async function createMcpServer(
  deps: RegistryDeps,
  organizationId: string,
  input: CreateMcpServerInput,
): Promise<McpServerView> {
  const url = await checkedUrl(deps, input.url);
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
  deps: RegistryDeps,
  organizationId: string,
  page: PageRequest,
): Promise<Page<McpServerView>> {
  const servers = await deps.stores.mcpServers.list(organizationId, page);
  const catalogs = await Promise.all(
    servers.data.map((server) => deps.redis.hget(toolsKey(deps, server), catalogField)),
  );
  return {
    data: servers.data.map((server, index) => toServerView(server, parseCatalog(catalogs[index]))),
    nextCursor: servers.nextCursor,
  };
}

/** The server with its tools, listed live (or from the short cache); unreachable is a status, not an error. */
export async function getMcpServer(
  deps: RegistryDeps,
  organizationId: string,
  serverId: string,
): Promise<McpServerDetail> {
  const server = await requireServer(deps, organizationId, serverId);
  const catalog = await getServerTools(deps, server, { cache: true });
  return { ...toServerView(server, catalog.state), tools: catalog.tools.map(toToolView) };
}

export async function updateMcpServer(
  deps: RegistryDeps,
  organizationId: string,
  serverId: string,
  input: UpdateMcpServerInput,
): Promise<McpServerView> {
  const current = await requireServer(deps, organizationId, serverId);
  const url = input.url === undefined ? current.url : await checkedUrl(deps, input.url);
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
  if (result.status === 'not_found')
    throw new ApiError('mcp_server_not_found', `No MCP server ${serverId} in this organization`);
  if (result.status === 'conflict') {
    throw new ApiError(
      'slug_taken',
      `An MCP server with the slug "${input.slug}" already exists in this organization`,
    );
  }
  // Tools listed at another URL say nothing about this one; the settings stay, keyed by tool name.
  if (url !== current.url) await deps.redis.hdel(toolsKey(deps, current), catalogField);
  forgetCachedTools(deps.mcp, serverId);
  if (input.headers !== undefined || url !== current.url) {
    deps.logger.info(
      { organizationId, mcpServerId: serverId, headersChanged: input.headers !== undefined },
      'mcp server endpoint changed',
    );
  }
  const catalog = url === current.url ? await deps.redis.hget(toolsKey(deps, current), catalogField) : null;
  return toServerView(result.value, parseCatalog(catalog));
}

export async function deleteMcpServer(
  deps: RegistryDeps,
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
    deps.keys.organization(organizationId).mcpTools(serverId),
  );
  if (!removed) throw new ApiError('mcp_server_not_found', `No MCP server ${serverId} in this organization`);
  forgetCachedTools(deps.mcp, serverId);
  deps.logger.info({ organizationId, mcpServerId: serverId }, 'mcp server deleted');
}

// ---------------------------------------------------------------------------------------------
// The tool catalog: live listing, short in-process cache, stored settings

interface CacheEntry {
  updatedAt: string;
  expiresAt: number;
  tools: Promise<McpToolDescriptor[]>;
}

/**
 * Per McpClient (so per Deps world, never module-wide state shared by tests): server id → the
 * last listing. Keyed by `updatedAt` too, so a changed URL or header is listed afresh. Concurrent
 * readers share one in-flight listing. Correctness never depends on it: it only saves round trips.
 */
const toolCaches = new WeakMap<McpClient, Map<string, CacheEntry>>();
const maxCacheEntries = 5000;

function cacheOf(client: McpClient): Map<string, CacheEntry> {
  let cache = toolCaches.get(client);
  if (!cache) {
    cache = new Map();
    toolCaches.set(client, cache);
  }
  return cache;
}

function forgetCachedTools(client: McpClient, serverId: string): void {
  toolCaches.get(client)?.delete(serverId);
}

function listToolsCached(
  deps: RegistryDeps,
  server: McpServerRecord,
  useCache: boolean,
): { tools: Promise<McpToolDescriptor[]>; fresh: boolean } {
  const ttlMs = deps.env.MCPSTACK_MCP_TOOLS_CACHE_SECONDS * 1000;
  const cache = cacheOf(deps.mcp);
  const now = deps.clock.now().getTime();
  const cached = cache.get(server.id);
  if (useCache && ttlMs > 0 && cached && cached.updatedAt === server.updatedAt && cached.expiresAt > now) {
    return { tools: cached.tools, fresh: false };
  }
  const tools = deps.mcp.listTools(endpointOf(deps, server));
  if (ttlMs > 0) {
    if (cache.size >= maxCacheEntries) {
      for (const [id, entry] of cache) if (entry.expiresAt <= now) cache.delete(id);
      if (cache.size >= maxCacheEntries) cache.clear();
    }
    const entry = { updatedAt: server.updatedAt, expiresAt: now + ttlMs, tools };
    cache.set(server.id, entry);
    tools.catch(() => {
      if (cache.get(server.id) === entry) cache.delete(server.id);
    });
  }
  return { tools, fresh: true };
}

export interface ServerTools {
  tools: ToolRecord[];
  state: CatalogState | null;
  /** Set when the server could not be listed now; `tools` are then the last known ones. */
  failure: ApiError | null;
}

async function readStoredTools(deps: RegistryDeps, server: McpServerRecord) {
  const raw = await deps.redis.hgetall(toolsKey(deps, server));
  const tools = new Map<string, { raw: string; record: ToolRecord }>();
  for (const [field, value] of Object.entries(raw)) {
    if (field === catalogField) continue;
    tools.set(field, { raw: value, record: toolRecord.parse(JSON.parse(value)) });
  }
  return { tools, state: parseCatalog(raw[catalogField]) };
}

const maxSwapAttempts = 10;

/**
 * Writes a tool's descriptor (as the server lists it) without touching its settings, even while
 * a PATCH of the same tool runs: compare-and-set against the value read, re-read on a race.
 */
async function storeDescriptor(
  deps: RegistryDeps,
  key: string,
  id: string,
  descriptor: McpToolDescriptor,
  stored: { raw: string; record: ToolRecord } | undefined,
  now: string,
): Promise<ToolRecord> {
  let current = stored;
  for (let attempt = 0; attempt < maxSwapAttempts; attempt++) {
    const next: ToolRecord = {
      id,
      isEnabled: true,
      displayName: null,
      descriptionOverride: null,
      instructions: null,
      whenToUse: null,
      whenNotToUse: null,
      ...current?.record,
      name: descriptor.name,
      title: descriptor.title,
      description: descriptor.description,
      inputSchema: descriptor.inputSchema,
      lastSeenAt: now,
    };
    const nextRaw = JSON.stringify(next);
    if (current?.raw === nextRaw) return next;
    if ((await deps.scripts.run('hashFieldSwap', [key], [id, current?.raw ?? '', nextRaw])) === 1)
      return next;
    const raw = await deps.redis.hget(key, id);
    current = raw === null ? undefined : { raw, record: toolRecord.parse(JSON.parse(raw)) };
  }
  throw new Error(`Gave up storing tool ${id} after ${maxSwapAttempts} concurrent changes`);
}

/**
 * The server's tools: its live tools/list (through the short cache unless `cache` is false) merged
 * with the stored settings, new tools enabled. When the server cannot be listed, the tools of the
 * last successful listing, with `failure` saying why.
 */
export async function getServerTools(
  deps: RegistryDeps,
  server: McpServerRecord,
  options: { cache: boolean },
): Promise<ServerTools> {
  const key = toolsKey(deps, server);
  const listing = listToolsCached(deps, server, options.cache);
  const [result, stored] = await Promise.all([
    listing.tools.then(
      (tools) => ({ ok: true as const, tools }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    readStoredTools(deps, server),
  ]);
  const now = deps.clock.now().toISOString();

  if (!result.ok) {
    if (!(result.error instanceof ApiError)) throw result.error;
    const state: CatalogState = {
      status: 'error',
      error: result.error.message,
      checkedAt: now,
      toolIds: stored.state?.toolIds ?? [],
    };
    await deps.redis.hset(key, catalogField, JSON.stringify(state));
    // Logged when the failure starts or changes, not on every read of a server that stays down.
    if (stored.state?.status !== 'error' || stored.state.error !== state.error) {
      deps.logger.warn(
        { organizationId: server.organizationId, mcpServerId: server.id, reason: state.error },
        'mcp server tools/list failed',
      );
    }
    const tools = state.toolIds
      .map((id) => stored.tools.get(id)?.record)
      .filter((tool): tool is ToolRecord => tool !== undefined);
    return { tools, state, failure: result.error };
  }

  // The same name twice would be one id twice: keep the first, as a client calling by name would.
  const descriptors = [...new Map(result.tools.map((tool) => [tool.name, tool])).values()];
  const tools = await Promise.all(
    descriptors.map((descriptor) => {
      const id = toolIdFor(server.id, descriptor.name);
      const existing = stored.tools.get(id);
      // A cached listing was stored when it was fetched; only tools missing from the hash are written.
      if (!listing.fresh && existing) return existing.record;
      return storeDescriptor(deps, key, id, descriptor, existing, now);
    }),
  );
  const toolIds = tools.map((tool) => tool.id);
  let state = stored.state;
  if (listing.fresh || state?.status !== 'ok' || state.toolIds.join() !== toolIds.join()) {
    state = { status: 'ok', error: null, checkedAt: now, toolIds };
    await deps.redis.hset(key, catalogField, JSON.stringify(state));
  }
  return { tools, state, failure: null };
}

// ---------------------------------------------------------------------------------------------
// Tool settings and smoke tests

export async function patchTool(
  deps: RegistryDeps,
  organizationId: string,
  serverId: string,
  toolId: string,
  input: PatchToolInput,
): Promise<ToolView> {
  const server = await requireServer(deps, organizationId, serverId);
  const key = toolsKey(deps, server);
  const notFound = () => new ApiError('tool_not_found', `No tool ${toolId} on MCP server ${serverId}`);
  if (toolId === catalogField) throw notFound();
  for (let attempt = 0; attempt < maxSwapAttempts; attempt++) {
    const raw = await deps.redis.hget(key, toolId);
    if (raw === null) throw notFound();
    const next: ToolRecord = { ...toolRecord.parse(JSON.parse(raw)), ...input };
    if ((await deps.scripts.run('hashFieldSwap', [key], [toolId, raw, JSON.stringify(next)])) === 1) {
      return toToolView(next);
    }
  }
  throw new Error(`Gave up updating tool ${toolId} after ${maxSwapAttempts} concurrent changes`);
}

/** tools/list against the live server, bypassing the cache; only the tools agents may use. */
export async function smokeListTools(
  deps: RegistryDeps,
  organizationId: string,
  serverId: string,
): Promise<{ tools: ToolView[] }> {
  const server = await requireServer(deps, organizationId, serverId);
  const catalog = await getServerTools(deps, server, { cache: false });
  if (catalog.failure) throw catalog.failure;
  return { tools: catalog.tools.filter((tool) => tool.isEnabled).map(toToolView) };
}

/** tools/call of one enabled tool, exactly as an agent would call it. */
export async function smokeCallTool(
  deps: RegistryDeps,
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
    catalog = await getServerTools(deps, server, { cache: false });
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
  const result: McpCallResult = await deps.mcp.callTool(endpointOf(deps, server), toolName, args);
  return {
    toolName,
    isError: result.isError,
    content: result.content,
    structuredContent: result.structuredContent ?? null,
    durationMs: Math.round(performance.now() - started),
  };
}

// ---------------------------------------------------------------------------------------------
// For the chat runtime

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
 * The enabled tools of the given servers of an organization, from the cached listing. A server
 * that cannot be listed offers no tools (its error says why) rather than failing the chat; ids
 * that name no server of the organization are skipped.
 */
export async function listEnabledTools(
  deps: RegistryDeps,
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
