import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  ListToolsResultSchema,
  type McpError,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { ApiError } from '../../errors.ts';
import { createGuardedFetch } from '../outbound/url-guard.ts';
import { describeFailure, isLostSession, isRefusal } from './server-failures.ts';

/** Where a registered MCP server answers, and the headers that authenticate to it. */
export interface McpEndpoint {
  /** Sessions are kept per registered server: two organizations never share one. */
  serverId: string;
  url: string;
  headers: Record<string, string>;
}

export interface McpToolDescriptor {
  name: string;
  title: string | null;
  description: string | null;
  inputSchema: Record<string, unknown> | null;
}

export interface McpCallResult {
  content: unknown[];
  structuredContent?: unknown;
  isError: boolean;
}

export interface McpOperationOptions {
  /**
   * `kept` (the default): the session this process keeps for the server and its credentials.
   * `fresh`: a session opened for this one operation and closed after it, for a smoke test that
   * must show the server accepts a new session now.
   */
  session?: 'kept' | 'fresh';
  /** Cancels the operation (the visitor left): it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Talks to remote MCP servers over Streamable HTTP, every request through the outbound URL guard.
 * An operation (connecting if it must, then its request) answers within `timeoutMs` or fails with
 * `mcp_server_unreachable` saying why; a tool call the server refuses fails with `mcp_tool_error`.
 */
export interface McpClient {
  listTools(endpoint: McpEndpoint, options?: McpOperationOptions): Promise<McpToolDescriptor[]>;
  callTool(
    endpoint: McpEndpoint,
    name: string,
    args: Record<string, unknown>,
    options?: McpOperationOptions,
  ): Promise<McpCallResult>;
  /** How many kept sessions are open, for tests and metrics. */
  size(): number;
  close(): Promise<void>;
}

export interface McpClientOptions {
  allowPrivateUrls: boolean;
  timeoutMs: number;
  logger: Logger;
  /** A kept session unused this long is closed; default 5 minutes. */
  idleMs?: number;
}

const clientInfo = { name: 'mcpstack-agents', version: '0.1.0' };
/** A server that keeps handing out cursors is broken or hostile; 50 pages is far beyond any real catalog. */
const maxToolPages = 50;

class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
}

interface Session {
  client: Client;
  transport: StreamableHTTPClientTransport;
}

interface KeptSession {
  session: Promise<Session>;
  lastUsed: number;
  inFlight: number;
  /** `dropped`: out of the pool, closed when its last operation ends. */
  state: 'open' | 'dropped' | 'closed';
}

type Operation<T> = (client: Client, signal: AbortSignal) => Promise<T>;

/**
 * Sessions are kept across requests: one initialized session per server and credentials, shared by
 * every conversation and catalog read of this process, closed after it sat idle. A session whose
 * connection failed is dropped and the next operation connects again; one the server forgot (a
 * restart) is replaced at once and the operation retried, since the server never ran it.
 */
export function createMcpClient(options: McpClientOptions): McpClient {
  const { timeoutMs, logger } = options;
  const idleMs = options.idleMs ?? 5 * 60_000;
  const guardedFetch = createGuardedFetch(options.allowPrivateUrls, { timeoutMs });
  const kept = new Map<string, KeptSession>();

  /**
   * Connects (initialize, then initialized). A `lifetime` signal aborts the session's HTTP requests
   * too, not only its pending JSON-RPC promises: a fresh session lives no longer than its operation.
   */
  async function open(endpoint: McpEndpoint, lifetime?: AbortSignal): Promise<Session> {
    const transport = new StreamableHTTPClientTransport(new URL(endpoint.url), {
      requestInit: { headers: endpoint.headers },
      fetch:
        lifetime === undefined
          ? guardedFetch
          : (input, init) =>
              guardedFetch(input, {
                ...init,
                signal: init?.signal ? AbortSignal.any([init.signal, lifetime]) : lifetime,
              }),
      // The optional GET stream carries server-initiated messages, which we do not read: once it
      // breaks, it stays closed.
      reconnectionOptions: {
        maxRetries: 0,
        initialReconnectionDelay: 1000,
        maxReconnectionDelay: 1000,
        reconnectionDelayGrowFactor: 1,
      },
    });
    const client = new Client(clientInfo, { capabilities: {} });
    // Errors of the background GET stream are no operation's; an operation's own reach its caller.
    client.onerror = (error) =>
      logger.debug({ mcpServerId: endpoint.serverId, reason: String(error) }, 'mcp session error');
    try {
      await client.connect(transport, { signal: lifetime, timeout: timeoutMs });
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
    return { client, transport };
  }

  /** Ends the session on the server as well (DELETE), as the spec asks of a client done with it. */
  async function end(session: Session): Promise<void> {
    await session.transport.terminateSession().catch(() => undefined);
    await session.client.close().catch(() => undefined);
  }

  async function inFreshSession<T>(
    endpoint: McpEndpoint,
    signal: AbortSignal,
    operation: Operation<T>,
  ): Promise<T> {
    const session = await open(endpoint, signal);
    try {
      return await operation(session.client, signal);
    } finally {
      void end(session);
    }
  }

  const keyOf = (endpoint: McpEndpoint) =>
    createHash('sha256').update(JSON.stringify(endpoint)).digest('base64url');

  function acquire(key: string, endpoint: McpEndpoint): KeptSession {
    const existing = kept.get(key);
    if (existing) return existing;
    const entry: KeptSession = { session: open(endpoint), lastUsed: Date.now(), inFlight: 0, state: 'open' };
    // A failed connect must not stay cached: the next operation tries again.
    entry.session.catch(() => drop(key, entry));
    kept.set(key, entry);
    return entry;
  }

  /** Out of the pool; closed now if idle, else by the last operation still using it. */
  function drop(key: string, entry: KeptSession): Promise<void> {
    if (kept.get(key) === entry) kept.delete(key);
    if (entry.state === 'open') entry.state = 'dropped';
    return closeIfDone(entry);
  }

  async function closeIfDone(entry: KeptSession): Promise<void> {
    if (entry.state !== 'dropped' || entry.inFlight > 0) return;
    entry.state = 'closed';
    await entry.session.then(end, () => undefined);
  }

  async function inKeptSession<T>(
    endpoint: McpEndpoint,
    signal: AbortSignal,
    caller: AbortSignal | undefined,
    operation: Operation<T>,
  ): Promise<T> {
    const key = keyOf(endpoint);
    for (let attempt = 1; ; attempt++) {
      const entry = acquire(key, endpoint);
      entry.inFlight += 1;
      entry.lastUsed = Date.now();
      let hadSessionId = false;
      try {
        const { client, transport } = await untilAborted(entry.session, signal);
        hadSessionId = transport.sessionId !== undefined;
        return await operation(client, signal);
      } catch (error) {
        // A refusal is an answer over a working session; a visitor leaving says nothing of it.
        if (isRefusal(error) || caller?.aborted) throw error;
        void drop(key, entry);
        if (attempt === 1 && hadSessionId && isLostSession(error)) continue;
        throw error;
      } finally {
        entry.inFlight -= 1;
        entry.lastUsed = Date.now();
        void closeIfDone(entry);
      }
    }
  }

  async function run<T>(
    endpoint: McpEndpoint,
    options: McpOperationOptions,
    operation: Operation<T>,
    describeRefusal?: (error: McpError) => ApiError,
  ): Promise<T> {
    const deadline = new AbortController();
    // A timer cleared when the operation ends (AbortSignal.timeout would live on for the whole limit).
    const timer = setTimeout(
      () => deadline.abort(new DeadlineExceeded(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const caller = options.signal;
    const signal = caller ? AbortSignal.any([caller, deadline.signal]) : deadline.signal;
    try {
      return options.session === 'fresh'
        ? await inFreshSession(endpoint, signal, operation)
        : await inKeptSession(endpoint, signal, caller, operation);
    } catch (error) {
      if (caller?.aborted) throw caller.reason;
      if (describeRefusal && isRefusal(error)) throw describeRefusal(error);
      throw describeFailure(error, new URL(endpoint.url), deadline.signal.aborted, timeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }

  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [key, entry] of kept) {
        if (entry.inFlight === 0 && now - entry.lastUsed > idleMs) void drop(key, entry);
      }
    },
    Math.min(idleMs, 60_000),
  );
  sweeper.unref();

  return {
    listTools(endpoint, options = {}) {
      return run(endpoint, options, async (client, signal) => {
        const tools: McpToolDescriptor[] = [];
        const seenCursors = new Set<string>();
        let cursor: string | undefined;
        for (let page = 0; page < maxToolPages; page++) {
          // `request`, not `client.listTools`: that one compiles every tool's output schema, for
          // validating results we hand to the model as they come.
          const result = await client.request(
            { method: 'tools/list', params: cursor === undefined ? {} : { cursor } },
            ListToolsResultSchema,
            { signal, timeout: timeoutMs },
          );
          for (const tool of result.tools) {
            tools.push({
              name: tool.name,
              title: tool.title ?? tool.annotations?.title ?? null,
              description: tool.description ?? null,
              inputSchema: (tool.inputSchema as Record<string, unknown> | undefined) ?? null,
            });
          }
          cursor = result.nextCursor;
          if (cursor === undefined || seenCursors.has(cursor)) break;
          seenCursors.add(cursor);
        }
        return tools;
      });
    },

    callTool(endpoint, name, args, options = {}) {
      return run(
        endpoint,
        options,
        async (client, signal) => {
          const result = await client.request(
            { method: 'tools/call', params: { name, arguments: args } },
            CallToolResultSchema,
            { signal, timeout: timeoutMs },
          );
          return {
            content: Array.isArray(result.content) ? result.content : [],
            ...(result.structuredContent !== undefined && { structuredContent: result.structuredContent }),
            isError: result.isError === true,
          };
        },
        // The server understood the call and refused it (unknown tool, invalid arguments, …): an
        // answer about the tool, not a failure of the server.
        (error) =>
          new ApiError('mcp_tool_error', `The tool "${name}" failed on the MCP server: ${error.message}`, {
            mcpErrorCode: error.code,
          }),
      );
    },

    size: () => kept.size,

    async close() {
      clearInterval(sweeper);
      await Promise.all([...kept].map(([key, entry]) => drop(key, entry)));
    },
  };
}

/** The promise, or the signal's reason as soon as it aborts (the promise itself runs on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
