import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMcpClient, type McpClient, type McpEndpoint } from '../src/domain/mcp/client.ts';
import { startTestMcpServer, type TestMcpServer } from './support/mcp-server.ts';

describe('the MCP client, against a server that keeps sessions', () => {
  let server: TestMcpServer;
  let client: McpClient;

  beforeAll(async () => {
    server = await startTestMcpServer({ stateful: true });
    client = createMcpClient({ allowPrivateUrls: true, timeoutMs: 5000, logger: pino({ level: 'silent' }) });
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  const endpoint = (serverId = 'mcp_shop'): McpEndpoint => ({ serverId, url: server.url, headers: {} });
  const initializations = () =>
    server.requestsSeen.filter((request) => request.rpcMethods.includes('initialize')).length;

  it('lists the tools and calls one in a single kept session', async () => {
    const before = initializations();
    const tools = await client.listTools(endpoint());
    expect(tools.map((tool) => tool.name)).toEqual(['get_order', 'list_products', 'add']);
    const result = await client.callTool(endpoint(), 'get_order', { orderId: 'A-1001' });
    expect(result).toMatchObject({
      isError: false,
      structuredContent: { orderId: 'A-1001', status: 'shipped' },
    });
    expect(initializations() - before).toBe(1);
    expect(client.size()).toBe(1);
  });

  it('keeps a session per registered server, even for two servers at the same URL', async () => {
    const sizeBefore = client.size();
    await client.callTool(endpoint('mcp_other_organization'), 'add', { a: 1, b: 2 });
    expect(client.size()).toBe(sizeBefore + 1);
  });

  it('runs a smoke test in a session of its own, and ends that session on the server', async () => {
    const sizeBefore = client.size();
    const before = initializations();
    const deletesBefore = server.requestsSeen.filter((request) => request.method === 'DELETE').length;
    await client.listTools(endpoint(), { session: 'fresh' });
    expect(initializations() - before).toBe(1);
    expect(client.size()).toBe(sizeBefore);
    await expect
      .poll(() => server.requestsSeen.filter((request) => request.method === 'DELETE').length)
      .toBe(deletesBefore + 1);
  });

  it('starts a new session when the server forgot the kept one, and the call still answers', async () => {
    await client.callTool(endpoint(), 'add', { a: 1, b: 1 });
    await server.forgetSessions();
    const before = initializations();
    const result = await client.callTool(endpoint(), 'add', { a: 2, b: 3 });
    expect(result.content).toEqual([{ type: 'text', text: 'The sum is 5' }]);
    expect(initializations() - before).toBe(1);
  });

  it('rejects a cancelled call with the reason it was cancelled, keeping the session', async () => {
    await client.callTool(endpoint(), 'add', { a: 1, b: 1 });
    const sizeBefore = client.size();
    const cancelled = client.callTool(
      endpoint(),
      'add',
      { a: 1, b: 1 },
      {
        signal: AbortSignal.abort(new Error('the visitor left')),
      },
    );
    await expect(cancelled).rejects.toThrow('the visitor left');
    expect(client.size()).toBe(sizeBefore);
  });

  it('reports a server that is gone as unreachable, naming its origin only', async () => {
    const gone = await startTestMcpServer({ stateful: true });
    await gone.stop();
    const failure = client.listTools({ serverId: 'mcp_gone', url: `${gone.url}?token=secret`, headers: {} });
    await expect(failure).rejects.toMatchObject({ code: 'mcp_server_unreachable' });
    await expect(failure).rejects.toThrow(/connection refused/);
    await expect(failure).rejects.not.toThrow(/secret/);
  });
});
