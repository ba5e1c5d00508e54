import { createHash } from 'node:crypto';
import { createMCPClient, type MCPClient } from '@ai-sdk/mcp';
import type { Logger } from 'pino';
import type { McpEndpoint } from './client.ts';
import { createGuardedFetch } from '../outbound/url-guard.ts';

export interface McpToolResult {
  content: unknown[];
  structuredContent?: unknown;
  isError: boolean;
}

/**
 * MCP clients for the chat runtime, kept across requests: one connection (an initialized session)
 * per server and credentials, reused by every conversation of this process, closed after it sat
 * idle. A client whose session broke is dropped and the next call connects again.
 */
export interface McpPool {
  callTool(
    serverId: string,
    endpoint: McpEndpoint,
    name: string,
    args: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<McpToolResult>;
  /** How many clients are open, for tests and metrics. */
  size(): number;
  close(): Promise<void>;
}

export interface McpPoolOptions {
  allowPrivateUrls: boolean;
  timeoutMs: number;
  logger: Logger;
  idleMs?: number;
}

interface Entry {
  client: Promise<MCPClient>;
  lastUsed: number;
  inFlight: number;
}

export function createMcpPool(options: McpPoolOptions): McpPool {
  const idleMs = options.idleMs ?? 5 * 60_000;
  const fetch = createGuardedFetch(options.allowPrivateUrls, { timeoutMs: options.timeoutMs });
  const entries = new Map<string, Entry>();

  const keyOf = (serverId: string, endpoint: McpEndpoint) =>
    `${serverId}:${createHash('sha256').update(JSON.stringify(endpoint)).digest('base64url')}`;

  function drop(key: string, entry: Entry): void {
    if (entries.get(key) !== entry) return;
    entries.delete(key);
    entry.client.then((client) => client.close()).catch(() => undefined);
  }

  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [key, entry] of entries) {
        if (entry.inFlight === 0 && now - entry.lastUsed > idleMs) drop(key, entry);
      }
    },
    Math.min(idleMs, 60_000),
  );
  sweeper.unref();

  function acquire(serverId: string, endpoint: McpEndpoint): { key: string; entry: Entry } {
    const key = keyOf(serverId, endpoint);
    let entry = entries.get(key);
    if (!entry) {
      const client = createMCPClient({
        transport: {
          type: 'http',
          url: endpoint.url,
          headers: endpoint.headers,
          fetch: fetch as typeof globalThis.fetch,
        },
        clientName: 'mcpstack-agents',
        version: '0.1.0',
        initializationOptions: { timeout: options.timeoutMs },
        onUncaughtError: (error) =>
          options.logger.warn({ serverId, reason: String(error) }, 'MCP client error'),
      });
      const created: Entry = { client, lastUsed: Date.now(), inFlight: 0 };
      // A failed connect must not stay cached: the next call tries again.
      client.catch(() => drop(key, created));
      entries.set(key, created);
      entry = created;
    }
    return { key, entry };
  }

  return {
    async callTool(serverId, endpoint, name, args, signal) {
      const { key, entry } = acquire(serverId, endpoint);
      entry.inFlight += 1;
      entry.lastUsed = Date.now();
      try {
        const client = await entry.client;
        // A timer cleared when the call ends (AbortSignal.timeout would live on for the whole limit).
        const deadline = new AbortController();
        const timer = setTimeout(
          () => deadline.abort(new Error(`The tool did not answer within ${options.timeoutMs} ms`)),
          options.timeoutMs,
        );
        const onAbort = () => deadline.abort(signal?.reason);
        if (signal?.aborted) onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        let result: Awaited<ReturnType<MCPClient['callTool']>>;
        try {
          result = await client.callTool({ name, arguments: args, options: { signal: deadline.signal } });
        } finally {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        }
        return {
          content: Array.isArray(result.content) ? result.content : [],
          structuredContent: result.structuredContent,
          isError: result.isError === true,
        };
      } catch (error) {
        // The session may be gone (server restart, expiry): connect afresh next time. Tool-level
        // failures come back as `isError` results above, so reaching here means the transport failed.
        if (!signal?.aborted) drop(key, entry);
        throw error;
      } finally {
        entry.inFlight -= 1;
        entry.lastUsed = Date.now();
      }
    },
    size: () => entries.size,
    async close() {
      clearInterval(sweeper);
      const all = [...entries.values()];
      entries.clear();
      await Promise.all(
        all.map((entry) => entry.client.then((client) => client.close()).catch(() => undefined)),
      );
    },
  };
}
