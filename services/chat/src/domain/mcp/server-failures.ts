import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ApiError } from '../../errors.ts';

/**
 * The server understood the request and refused it (unknown tool, invalid arguments, …): an
 * answer about the request, not a failure of the connection, so the session stays usable.
 */
export function isRefusal(error: unknown): error is McpError {
  return (
    error instanceof McpError &&
    error.code !== ErrorCode.RequestTimeout &&
    error.code !== ErrorCode.ConnectionClosed
  );
}

/**
 * HTTP 404 to a request carrying a session id: the server forgot the session (it restarted, or
 * expired it), and the request was never run. The spec's answer is a new session:
 * https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#session-management
 */
export function isLostSession(error: unknown): boolean {
  return error instanceof StreamableHTTPError && error.code === 404;
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
export function describeFailure(error: unknown, url: URL, timedOut: boolean, timeoutMs: number): ApiError {
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
