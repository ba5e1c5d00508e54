import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen, readJson } from '@mcpstack/test-support/http-server';
import { answerStatelessMcp } from '@mcpstack/test-support/mcp';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  /** The JSON-RPC methods of a POST body (initialize, tools/list, tools/call, …). */
  rpcMethods: string[];
}

export interface TestMcpServer {
  /** The Streamable HTTP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  requestsSeen: SeenRequest[];
  /** With `stateful`: ends every session, as a restart would; their ids then answer 404. */
  forgetSessions(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestMcpServerOptions {
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  bearerToken?: string;
  /** Also offer `cancel_order`, which always fails (an `isError` result), for the chat tests. */
  failingTool?: boolean;
  /** Keep a session per initialize (an `mcp-session-id`), as most deployed servers do. */
  stateful?: boolean;
}

export const products = [
  { sku: 'sku-1', name: 'Espresso beans', priceUsd: 14 },
  { sku: 'sku-2', name: 'Pour-over kettle', priceUsd: 39 },
];

function buildServer(options: TestMcpServerOptions): McpServer {
  const server = new McpServer({ name: 'test-shop', version: '1.0.0' });
  server.registerTool(
    'get_order',
    {
      title: 'Get order',
      description: 'Look up an order by its id.',
      inputSchema: { orderId: z.string() },
    },
    async ({ orderId }) => ({
      content: [{ type: 'text', text: `Order ${orderId}: shipped` }],
      structuredContent: { orderId, status: 'shipped' },
    }),
  );
  server.registerTool(
    'list_products',
    { title: 'List products', description: 'Every product with its price.' },
    async () => ({ content: [{ type: 'text', text: JSON.stringify(products) }] }),
  );
  server.registerTool(
    'add',
    { description: 'Add two numbers.', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: `The sum is ${a + b}` }] }),
  );
  if (options.failingTool) {
    server.registerTool(
      'cancel_order',
      { description: 'Cancel an order by its id.', inputSchema: { orderId: z.string() } },
      async ({ orderId }) => ({
        content: [{ type: 'text', text: `Order ${orderId} has shipped and cannot be cancelled` }],
        isError: true,
      }),
    );
  }
  return server;
}

/** Sessions of a stateful test server: a transport per initialize, found by its session id. */
function createSessions(options: TestMcpServerOptions) {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  return {
    async handle(request: IncomingMessage, response: ServerResponse, body: unknown): Promise<void> {
      const sessionId = request.headers['mcp-session-id'];
      let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
      if (!transport) {
        if (sessionId !== undefined || request.method !== 'POST') {
          response.writeHead(404, { 'content-type': 'application/json' });
          response.end(
            JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' } }),
          );
          return;
        }
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: true,
          onsessioninitialized: (id) => void transports.set(id, created),
        });
        await buildServer(options).connect(created);
        transport = created;
      }
      await transport.handleRequest(request, response, body);
    },
    async forget(): Promise<void> {
      const all = [...transports.values()];
      transports.clear();
      await Promise.all(all.map((transport) => transport.close()));
    },
  };
}

/**
 * A real MCP server (the SDK's McpServer over Streamable HTTP) on 127.0.0.1, port 0. Stateless
 * unless `stateful`: a fresh server and transport per request.
 */
export async function startTestMcpServer(options: TestMcpServerOptions = {}): Promise<TestMcpServer> {
  const requestsSeen: SeenRequest[] = [];
  const sessions = createSessions(options);
  const httpServer: Server = createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    let body: unknown;
    try {
      body = request.method === 'POST' ? await readJson(request) : undefined;
    } catch {
      response.writeHead(400).end('bad json');
      return;
    }
    const messages = Array.isArray(body) ? body : body === undefined ? [] : [body];
    requestsSeen.push({
      method: request.method ?? '',
      path,
      authorization: request.headers.authorization,
      rpcMethods: messages.map((message) => String((message as { method?: unknown }).method ?? '')),
    });
    if (path !== '/mcp') {
      response.writeHead(404).end('not found');
      return;
    }
    if (
      options.bearerToken !== undefined &&
      request.headers.authorization !== `Bearer ${options.bearerToken}`
    ) {
      response.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
      response.end(JSON.stringify({ error: 'unauthorized' }));
      return;
    }
    if (options.stateful) {
      await sessions.handle(request, response, body);
      return;
    }
    if (request.method !== 'POST') {
      // Stateless: no standalone SSE stream and no session to delete.
      response.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    await answerStatelessMcp(buildServer(options), request, response, body);
  });
  const listening = await listen(httpServer);
  return {
    url: `${listening.origin}/mcp`,
    requestsSeen,
    forgetSessions: sessions.forget,
    stop: async () => {
      await sessions.forget();
      await listening.close();
    },
  };
}

/** An HTTP server for the failure modes: it hangs, or answers something that is not MCP. */
export async function startPlainServer(
  handler: (request: IncomingMessage, response: import('node:http').ServerResponse) => void,
  host = '127.0.0.1',
): Promise<{ url: string; port: number; requests: IncomingMessage[]; stop(): Promise<void> }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((request, response) => {
    requests.push(request);
    handler(request, response);
  });
  const listening = await listen(server, host);
  return { url: listening.origin, port: listening.port, requests, stop: listening.close };
}
