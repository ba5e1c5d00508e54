import type { Deps } from '../../deps.ts';
import type { McpServerRecord } from '../../storage/records.ts';
import type { McpClient, McpOperationOptions, McpToolDescriptor } from './client.ts';
import { endpointOf } from './server-headers.ts';

/**
 * A short in-process cache of each server's tools/list, for MCPSTACK_MCP_TOOLS_CACHE_SECONDS.
 * Correctness never depends on it: it only saves round trips.
 */

interface CacheEntry {
  updatedAt: string;
  expiresAt: number;
  tools: Promise<McpToolDescriptor[]>;
}

/**
 * Per McpClient (so per Deps world, never module-wide state shared by tests): server id → the
 * last listing. Keyed by `updatedAt` too, so a changed URL or header is listed afresh. Concurrent
 * readers share one in-flight listing.
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

export function forgetCachedTools(client: McpClient, serverId: string): void {
  toolCaches.get(client)?.delete(serverId);
}

export interface ListingOptions extends Pick<McpOperationOptions, 'session'> {
  /** false: list live, and cache what the server answers. */
  cache: boolean;
}

/** The server's tools/list; `fresh` says whether it was asked now (not served from the cache). */
export function listToolsCached(
  deps: Pick<Deps, 'env' | 'clock' | 'mcp' | 'secretBox'>,
  server: McpServerRecord,
  options: ListingOptions,
): { tools: Promise<McpToolDescriptor[]>; fresh: boolean } {
  const ttlMs = deps.env.MCPSTACK_MCP_TOOLS_CACHE_SECONDS * 1000;
  const cache = cacheOf(deps.mcp);
  const now = deps.clock.now().getTime();
  const cached = cache.get(server.id);
  if (
    options.cache &&
    ttlMs > 0 &&
    cached &&
    cached.updatedAt === server.updatedAt &&
    cached.expiresAt > now
  ) {
    return { tools: cached.tools, fresh: false };
  }
  const tools = deps.mcp.listTools(endpointOf(deps, server), { session: options.session });
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
