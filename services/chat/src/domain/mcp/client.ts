import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ApiError } from '../../errors.ts';
import { createGuardedFetch } from '../outbound/url-guard.ts';

export interface McpEndpoint {
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

/** Talks to remote MCP servers over Streamable HTTP: one short session per operation. */
export interface McpClient {
  listTools(endpoint: McpEndpoint): Promise<McpToolDescriptor[]>;
  callTool(endpoint: McpEndpoint, name: string, args: Record<string, unknown>): Promise<McpCallResult>;
}

const clientInfo = { name: 'mcpstack-agents', version: '0.1.0' };
/** A server that keeps handing out cursors is broken or hostile; 50 pages is far beyond any real catalog. */
const maxToolPages = 50;

class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
}

/**
 * Each operation connects (initialize), does its one thing and closes, all within `timeoutMs`.
 * Sessions are not kept: servers are remote, few calls happen per chat step, and a stateless
 * service cannot route a later request to the replica holding a session anyway.
 */
export function createMcpClient(options: { allowPrivateUrls: boolean; timeoutMs: number }): McpClient {
  const { timeoutMs } = options;
  const guardedFetch = createGuardedFetch(options.allowPrivateUrls, { timeoutMs });

  async function withSession<T>(
    endpoint: McpEndpoint,
    run: (client: Client, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const url = new URL(endpoint.url);
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DeadlineExceeded(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: endpoint.headers },
      // The deadline aborts the HTTP requests too, not only the pending JSON-RPC promises.
      fetch: (input, init) =>
        guardedFetch(input, {
          ...init,
          signal: init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal,
        }),
      reconnectionOptions: {
        maxRetries: 0,
        initialReconnectionDelay: 1000,
        maxReconnectionDelay: 1000,
        reconnectionDelayGrowFactor: 1,
      },
    });
    const client = new Client(clientInfo, { capabilities: {} });
    // Errors of the background GET stream are not the operation's; the operation's own reach `run`.
    client.onerror = () => undefined;
    try {
      await client.connect(transport, { signal: deadline.signal, timeout: timeoutMs });
      return await run(client, deadline.signal);
    } catch (error) {
      throw describeFailure(error, url, deadline.signal.aborted, timeoutMs);
    } finally {
      clearTimeout(timer);
      await client.close().catch(() => undefined);
    }
  }

  return {
    listTools(endpoint) {
      return withSession(endpoint, async (client, signal) => {
        const tools: McpToolDescriptor[] = [];
        const seenCursors = new Set<string>();
        let cursor: string | undefined;
        for (let page = 0; page < maxToolPages; page++) {
          const result = await client.listTools(cursor === undefined ? {} : { cursor }, {
            signal,
            timeout: timeoutMs,
          });
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

    callTool(endpoint, name, args) {
      return withSession(endpoint, async (client, signal) => {
        try {
          const result = await client.callTool({ name, arguments: args }, undefined, {
            signal,
            timeout: timeoutMs,
          });
          return {
            content: Array.isArray(result.content) ? result.content : [],
            ...(result.structuredContent !== undefined && { structuredContent: result.structuredContent }),
            isError: result.isError === true,
          };
        } catch (error) {
          // The server understood the call and refused it (unknown tool, invalid arguments, …): a
          // protocol-level answer about the tool, not a transport failure.
          if (
            error instanceof McpError &&
            error.code !== ErrorCode.RequestTimeout &&
            error.code !== ErrorCode.ConnectionClosed
          ) {
            throw new ApiError(
              'mcp_tool_error',
              `The tool "${name}" failed on the MCP server: ${error.message}`,
              {
                mcpErrorCode: error.code,
              },
            );
          }
          throw error;
        }
      });
    },
  };
}

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < 10 && !chain.includes(current)) {
    chain.push(current);
    if (current instanceof AggregateError) chain.push(...current.errors);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

const networkReasons: Record<string, (host: string) => string> = {
  ECONNREFUSED: (host) => `connection refused by ${host}`,
  ENOTFOUND: (host) => `the host ${host} does not resolve`,
  EAI_AGAIN: (host) => `the host ${host} could not be resolved (temporary DNS failure)`,
  ECONNRESET: (host) => `${host} reset the connection`,
  EHOSTUNREACH: (host) => `${host} is unreachable`,
  ENETUNREACH: (host) => `the network of ${host} is unreachable`,
  UND_ERR_SOCKET: (host) => `${host} closed the connection`,
  UND_ERR_CONNECT_TIMEOUT: (host) => `could not connect to ${host} in time`,
  UND_ERR_HEADERS_TIMEOUT: (host) => `${host} did not send a response in time`,
  UND_ERR_BODY_TIMEOUT: (host) => `${host} stopped sending its response`,
};

const httpReasons: Record<number, string> = {
  401: 'HTTP 401 Unauthorized: check the headers stored for this server (e.g. Authorization)',
  403: 'HTTP 403 Forbidden: the stored credentials are not allowed to use this server',
  404: 'HTTP 404 Not Found: is this the MCP endpoint (often ending in /mcp)?',
  405: 'HTTP 405 Method Not Allowed: the URL does not accept MCP requests (POST)',
};

/**
 * One message per way an MCP server can fail us, naming what happened, so a developer fixes the
 * right thing. Messages name the origin only: a URL's path or query may carry a token.
 */
function describeFailure(error: unknown, url: URL, timedOut: boolean, timeoutMs: number): ApiError {
  const origin = url.origin;
  const unreachable = (reason: string) =>
    new ApiError('mcp_server_unreachable', `The MCP server at ${origin} failed: ${reason}`);
  const chain = causes(error);
  for (const entry of chain) {
    if (entry instanceof ApiError) {
      if (entry.code === 'mcp_tool_error' || entry.code === 'mcp_server_unreachable') return entry;
      // The guard refused an address (DNS changed since registration, or a redirect pointed inward).
      return unreachable(`refused to connect: ${entry.message}`);
    }
  }
  if (
    timedOut ||
    chain.some((entry) => entry instanceof McpError && entry.code === ErrorCode.RequestTimeout)
  ) {
    return unreachable(`timeout after ${timeoutMs} ms without an answer`);
  }
  for (const entry of chain) {
    if (entry instanceof StreamableHTTPError && entry.code !== undefined) {
      if (entry.code === -1)
        return unreachable(`not an MCP server (${entry.message.replace(/^Streamable HTTP error: /, '')})`);
      const known = httpReasons[entry.code];
      if (known) return unreachable(known);
      if (entry.code >= 300 && entry.code < 400)
        return unreachable(`HTTP ${entry.code} redirect not followed (only same-origin redirects are)`);
      return unreachable(`HTTP ${entry.code} from the server`);
    }
  }
  const host = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  for (const entry of chain) {
    const code = (entry as { code?: unknown } | null)?.code;
    if (typeof code === 'string') {
      const describe = networkReasons[code];
      if (describe) return unreachable(describe(host));
      if (/CERT|SSL|TLS/.test(code)) return unreachable(`TLS certificate problem (${code})`);
    }
  }
  for (const entry of chain) {
    if (entry instanceof SyntaxError || (entry instanceof Error && entry.name === 'ZodError')) {
      return unreachable('not an MCP server: its answer is not JSON-RPC');
    }
    if (entry instanceof McpError)
      return unreachable(`the server answered with an MCP error: ${entry.message}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return unreachable(message.length > 300 ? `${message.slice(0, 300)}…` : message);
}
