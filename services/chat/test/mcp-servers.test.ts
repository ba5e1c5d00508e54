import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentToolDescription, listEnabledTools } from '../src/domain/mcp/enabled-tools.ts';
import { defaultToolSettings, toolIdFor } from '../src/domain/mcp/tool-catalog.ts';
import { hasPrefix } from '../src/ids.ts';
import {
  type CallResult,
  startTestService,
  type Tenant,
  type TestService,
  uniqueSlug,
} from './support/harness.ts';
import { startPlainServer, startTestMcpServer, type TestMcpServer } from './support/mcp-server.ts';

const upstreamToken = 'upstream-token-4f9a2c7e1b';
const extraSecret = 'x-extra-secret-77d1e0';

describe('MCP server registry', () => {
  let service: TestService;
  let tenant: Tenant;
  let otherTenant: Tenant;
  let upstream: TestMcpServer;
  let closedUrl: string;
  const responses: CallResult[] = [];

  const serversPath = (organizationId = tenant.organizationId) =>
    `/api/v1/organizations/${organizationId}/mcp-servers`;

  async function call(
    method: string,
    path: string,
    body?: unknown,
    token = tenant.keys.developer,
  ): Promise<CallResult> {
    const result = await service.call(method, path, { token, ...(body !== undefined && { body }) });
    responses.push(result);
    return result;
  }

  async function register(overrides: Record<string, unknown> = {}): Promise<CallResult> {
    return call('POST', serversPath(), {
      name: 'Shop',
      slug: uniqueSlug('shop'),
      url: upstream.url,
      headers: { Authorization: `Bearer ${upstreamToken}` },
      ...overrides,
    });
  }

  async function registered(overrides: Record<string, unknown> = {}): Promise<string> {
    const created = await register(overrides);
    expect(created.status, created.text).toBe(201);
    return created.body.id as string;
  }

  beforeAll(async () => {
    service = await startTestService();
    tenant = await service.createTenant();
    otherTenant = await service.createTenant();
    upstream = await startTestMcpServer({ bearerToken: upstreamToken });
    const closed = await startPlainServer(() => undefined);
    await closed.stop();
    closedUrl = `${closed.url}/mcp`;
  });

  afterAll(async () => {
    await upstream?.stop();
    await service?.stop();
  });

  it('registers a server and never returns or logs its headers', async () => {
    const created = await register({
      headers: { Authorization: `Bearer ${upstreamToken}`, 'X-Extra': extraSecret },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({
      organizationId: tenant.organizationId,
      name: 'Shop',
      url: upstream.url,
      headerNames: ['Authorization', 'X-Extra'],
      toolCount: 0,
      catalogStatus: 'unknown',
      catalogError: null,
      description: null,
    });
    expect(created.body.id).toMatch(/^mcp_/);
    expect(Object.keys(created.body)).not.toContain('headers');
    expect(Object.keys(created.body)).not.toContain('sealedHeaders');
    const id = created.body.id as string;

    await call('GET', serversPath());
    await call('GET', `${serversPath()}/${id}`);
    await call('PATCH', `${serversPath()}/${id}`, { description: 'The shop' });
    await call('POST', `${serversPath()}/${id}/mcp-smoke/tools-list`);
    await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/get_order/call`, {
      arguments: { orderId: 'A-1' },
    });

    const stored = await service.deps.redis.get(
      service.deps.keys.organization(tenant.organizationId).entity('mcp-server', id),
    );
    expect(stored).not.toContain(upstreamToken);
    expect(stored).not.toContain(extraSecret);
    for (const response of responses) {
      expect(response.text).not.toContain(upstreamToken);
      expect(response.text).not.toContain(extraSecret);
    }
    const logs = service.logs.join('\n');
    expect(logs).toContain(id);
    expect(logs).not.toContain(upstreamToken);
    expect(logs).not.toContain(extraSecret);
  });

  it('lists the tools live on the server detail, sending the stored headers', async () => {
    const id = await registered();
    const before = upstream.requestsSeen.length;
    const detail = await call('GET', `${serversPath()}/${id}`);
    expect(detail.status, detail.text).toBe(200);
    expect(detail.body).toMatchObject({ id, catalogStatus: 'ok', catalogError: null, toolCount: 3 });
    expect(detail.body.tools.map((tool: { name: string }) => tool.name)).toEqual([
      'get_order',
      'list_products',
      'add',
    ]);
    const getOrder = detail.body.tools[0];
    expect(getOrder).toMatchObject({
      name: 'get_order',
      toolKey: 'get_order',
      title: 'Get order',
      description: 'Look up an order by its id.',
      ...defaultToolSettings,
    });
    expect(getOrder.inputSchema.properties.orderId.type).toBe('string');
    expect(getOrder.id).toBe(toolIdFor(id, 'get_order'));
    for (const tool of detail.body.tools) expect(hasPrefix('tool', tool.id)).toBe(true);

    const seen = upstream.requestsSeen.slice(before);
    expect(seen.some((request) => request.rpcMethods.includes('tools/list'))).toBe(true);
    expect(seen.every((request) => request.authorization === `Bearer ${upstreamToken}`)).toBe(true);

    const list = await call('GET', serversPath());
    expect(list.body.data.find((server: { id: string }) => server.id === id)).toMatchObject({
      toolCount: 3,
      catalogStatus: 'ok',
    });
  });

  it('serves the detail from the cache within MCPSTACK_MCP_TOOLS_CACHE_SECONDS, and lists afresh after an update', async () => {
    const id = await registered();
    const listings = () =>
      upstream.requestsSeen.filter((request) => request.rpcMethods.includes('tools/list')).length;
    await call('GET', `${serversPath()}/${id}`);
    const afterFirst = listings();
    await call('GET', `${serversPath()}/${id}`);
    expect(listings()).toBe(afterFirst);
    await call('PATCH', `${serversPath()}/${id}`, { name: 'Shop (renamed)' });
    await call('GET', `${serversPath()}/${id}`);
    expect(listings()).toBe(afterFirst + 1);
  });

  it('calls a tool through the smoke endpoint', async () => {
    const id = await registered();
    const result = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/get_order/call`, {
      arguments: { orderId: 'A-17' },
    });
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({
      toolName: 'get_order',
      isError: false,
      content: [{ type: 'text', text: 'Order A-17: shipped' }],
      structuredContent: { orderId: 'A-17', status: 'shipped' },
    });
    expect(result.body.durationMs).toBeGreaterThanOrEqual(0);

    const sum = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/add/call`, {
      arguments: { a: 2, b: 3 },
    });
    expect(sum.body).toMatchObject({
      isError: false,
      content: [{ type: 'text', text: 'The sum is 5' }],
      structuredContent: null,
    });

    const noArguments = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/list_products/call`, {});
    expect(noArguments.status, noArguments.text).toBe(200);
    expect(noArguments.body.content[0].text).toContain('Espresso beans');
  });

  it('answers a tool call with bad arguments as the tool’s own error, and an unknown tool with 404', async () => {
    const id = await registered();
    const bad = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/add/call`, {
      arguments: { a: 'two' },
    });
    expect(bad.status, bad.text).toBe(200);
    expect(bad.body.isError).toBe(true);

    const unknown = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/delete_everything/call`, {
      arguments: {},
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('tool_not_found');

    const notAnObject = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/add/call`, {
      arguments: [1, 2],
    });
    expect(notAnObject.status).toBe(400);
    expect(notAnObject.body.error.code).toBe('validation_failed');
  });

  it('hides a disabled tool from the smoke tools-list and refuses to call it', async () => {
    const id = await registered();
    const detail = await call('GET', `${serversPath()}/${id}`);
    const add = detail.body.tools.find((tool: { name: string }) => tool.name === 'add');
    const disabled = await call('PATCH', `${serversPath()}/${id}/tools/${add.id}`, { isEnabled: false });
    expect(disabled.status, disabled.text).toBe(200);
    expect(disabled.body.isEnabled).toBe(false);

    const smokeList = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools-list`);
    expect(smokeList.status, smokeList.text).toBe(200);
    expect(smokeList.body.tools.map((tool: { name: string }) => tool.name)).toEqual([
      'get_order',
      'list_products',
    ]);

    const refused = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/add/call`, {
      arguments: { a: 1, b: 1 },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'tool_disabled', toolId: add.id });

    const stillListed = await call('GET', `${serversPath()}/${id}`);
    expect(stillListed.body.tools.find((tool: { name: string }) => tool.name === 'add').isEnabled).toBe(
      false,
    );

    const agentTools = await listEnabledTools(service.deps, tenant.organizationId, [id, 'mcp_unknown']);
    expect(agentTools).toHaveLength(1);
    expect(agentTools[0]!.tools.map((tool) => tool.name)).toEqual(['get_order', 'list_products']);

    await call('PATCH', `${serversPath()}/${id}/tools/${add.id}`, { isEnabled: true });
    const allowed = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/add/call`, {
      arguments: { a: 1, b: 1 },
    });
    expect(allowed.status).toBe(200);
  });

  it('round-trips tool settings and folds them into what the agent reads', async () => {
    const id = await registered();
    const detail = await call('GET', `${serversPath()}/${id}`);
    const toolId = detail.body.tools[0].id as string;
    const settings = {
      displayName: 'Find an order',
      descriptionOverride: 'Finds one order of the signed-in customer.',
      instructions: 'Ask for the order id first.',
      whenToUse: 'The customer asks where an order is.',
      whenNotToUse: 'The customer wants a refund.',
    };
    const patched = await call('PATCH', `${serversPath()}/${id}/tools/${toolId}`, settings);
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ id: toolId, name: 'get_order', isEnabled: true, ...settings });

    const reread = await call('GET', `${serversPath()}/${id}`);
    expect(reread.body.tools[0]).toMatchObject(settings);
    expect(reread.body.tools[0].description).toBe('Look up an order by its id.');

    const [agentServer] = await listEnabledTools(service.deps, tenant.organizationId, [id]);
    const agentTool = agentServer!.tools.find((tool) => tool.id === toolId)!;
    expect(agentTool.description).toBe(
      [
        'Finds one order of the signed-in customer.',
        'When to use: The customer asks where an order is.',
        'When not to use: The customer wants a refund.',
        'Instructions: Ask for the order id first.',
      ].join('\n\n'),
    );
    expect(agentServer!.endpoint.headers).toEqual({ Authorization: `Bearer ${upstreamToken}` });

    const cleared = await call('PATCH', `${serversPath()}/${id}/tools/${toolId}`, {
      displayName: null,
      descriptionOverride: null,
    });
    expect(cleared.body).toMatchObject({
      displayName: null,
      descriptionOverride: null,
      instructions: settings.instructions,
    });
    expect(
      agentToolDescription({ ...cleared.body, instructions: null, whenToUse: null, whenNotToUse: null }),
    ).toBe('Look up an order by its id.');

    const unknownField = await call('PATCH', `${serversPath()}/${id}/tools/${toolId}`, {
      httpMethod: 'POST',
    });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.code).toBe('validation_failed');

    const unknownTool = await call('PATCH', `${serversPath()}/${id}/tools/tool_aaaaaaaaaaaaaaaaaaaaaa`, {
      isEnabled: false,
    });
    expect(unknownTool.status).toBe(404);
    expect(unknownTool.body.error.code).toBe('tool_not_found');
  });

  it('keeps every one of concurrent tool edits, even while the tool list is refreshed', async () => {
    const id = await registered();
    const detail = await call('GET', `${serversPath()}/${id}`);
    const toolId = detail.body.tools[1].id as string;
    const edits = [
      { displayName: 'Catalog' },
      { descriptionOverride: 'The whole catalog.' },
      { instructions: 'Quote prices in USD.' },
      { whenToUse: 'Asked what is for sale.' },
      { whenNotToUse: 'Asked about one order.' },
      { isEnabled: false },
    ];
    const results = await Promise.all([
      ...edits.map((edit) => call('PATCH', `${serversPath()}/${id}/tools/${toolId}`, edit)),
      call('POST', `${serversPath()}/${id}/mcp-smoke/tools-list`),
      call('POST', `${serversPath()}/${id}/mcp-smoke/tools-list`),
    ]);
    for (const result of results) expect(result.status, result.text).toBe(200);
    const after = await call('GET', `${serversPath()}/${id}`);
    expect(after.body.tools[1]).toMatchObject(Object.assign({ name: 'list_products' }, ...edits));
  });

  it('reports an unreachable server clearly: detail 200 with catalogStatus error, smoke 502', async () => {
    const id = await registered({ url: closedUrl });
    const detail = await call('GET', `${serversPath()}/${id}`);
    expect(detail.status, detail.text).toBe(200);
    expect(detail.body).toMatchObject({ catalogStatus: 'error', toolCount: 0, tools: [] });
    expect(detail.body.catalogError).toContain('connection refused');

    const smoke = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools-list`);
    expect(smoke.status).toBe(502);
    expect(smoke.body.error.code).toBe('mcp_server_unreachable');
    expect(smoke.body.error.message).toContain('connection refused');

    const smokeCall = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools/add/call`, {
      arguments: {},
    });
    expect(smokeCall.status).toBe(502);
    expect(smokeCall.body.error.code).toBe('mcp_server_unreachable');
  });

  it('keeps answering with the last known tools when a server goes away', async () => {
    const temporary = await startTestMcpServer();
    const id = await registered({ url: temporary.url, headers: undefined });
    const first = await call('GET', `${serversPath()}/${id}`);
    expect(first.body).toMatchObject({ catalogStatus: 'ok', toolCount: 3 });
    await temporary.stop();
    // A change of the server bypasses the cache, so the next detail asks the (now gone) server.
    await call('PATCH', `${serversPath()}/${id}`, { name: 'Shop (gone)' });
    const detail = await call('GET', `${serversPath()}/${id}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ catalogStatus: 'error', toolCount: 3 });
    expect(detail.body.catalogError).toContain('connection refused');
    expect(detail.body.tools.map((tool: { name: string }) => tool.name)).toEqual([
      'get_order',
      'list_products',
      'add',
    ]);
    const list = await call('GET', serversPath());
    expect(list.body.data.find((server: { id: string }) => server.id === id)).toMatchObject({
      catalogStatus: 'error',
      toolCount: 3,
    });
  });

  it('reports a wrong upstream token as HTTP 401 from the server', async () => {
    const id = await registered({ headers: { Authorization: 'Bearer wrong-token' } });
    const detail = await call('GET', `${serversPath()}/${id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.catalogStatus).toBe('error');
    expect(detail.body.catalogError).toContain('HTTP 401');

    const smoke = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools-list`);
    expect(smoke.status).toBe(502);
    expect(smoke.body.error).toMatchObject({ code: 'mcp_server_unreachable' });
    expect(smoke.body.error.message).toContain('HTTP 401');

    const fixed = await call('PATCH', `${serversPath()}/${id}`, {
      headers: { Authorization: `Bearer ${upstreamToken}` },
    });
    expect(fixed.body.headerNames).toEqual(['Authorization']);
    const works = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools-list`);
    expect(works.status, works.text).toBe(200);

    const cleared = await call('PATCH', `${serversPath()}/${id}`, { headers: null });
    expect(cleared.body.headerNames).toEqual([]);
    const before = upstream.requestsSeen.length;
    const refused = await call('POST', `${serversPath()}/${id}/mcp-smoke/tools-list`);
    expect(refused.status).toBe(502);
    expect(upstream.requestsSeen.slice(before).every((request) => request.authorization === undefined)).toBe(
      true,
    );
  });

  it('refuses a slug already used in the organization with 409, on create and on update', async () => {
    const slug = uniqueSlug('dup');
    await registered({ slug });
    const again = await register({ slug });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('slug_taken');

    const otherId = await registered();
    const renamed = await call('PATCH', `${serversPath()}/${otherId}`, { slug });
    expect(renamed.status).toBe(409);
    expect(renamed.body.error.code).toBe('slug_taken');

    const inOtherOrg = await call(
      'POST',
      serversPath(otherTenant.organizationId),
      { name: 'Shop', slug, url: upstream.url },
      otherTenant.keys.developer,
    );
    expect(inOtherOrg.status).toBe(201);
  });

  it('deletes a server with 204, after which it is 404 and its tool settings are gone', async () => {
    const id = await registered();
    await call('GET', `${serversPath()}/${id}`);
    const toolsKey = service.deps.keys.organization(tenant.organizationId).mcpTools(id);
    expect(await service.deps.redis.exists(toolsKey)).toBe(1);

    const deleted = await call('DELETE', `${serversPath()}/${id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect(await service.deps.redis.exists(toolsKey)).toBe(0);

    for (const [method, path] of [
      ['GET', `${serversPath()}/${id}`],
      ['PATCH', `${serversPath()}/${id}`],
      ['DELETE', `${serversPath()}/${id}`],
      ['POST', `${serversPath()}/${id}/mcp-smoke/tools-list`],
    ] as const) {
      const result = await call(method, path, method === 'PATCH' ? { name: 'x' } : undefined);
      expect(result.status, `${method} ${path}`).toBe(404);
      expect(result.body.error.code).toBe('mcp_server_not_found');
    }
  });

  it('refuses to delete a server an agent uses, naming the agents', async () => {
    const id = await registered();
    const agent = await call('POST', `/api/v1/organizations/${tenant.organizationId}/agents`, {
      name: 'Support',
      mcpServerIds: [id],
    });
    expect(agent.status, agent.text).toBe(201);
    const refused = await call('DELETE', `${serversPath()}/${id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'mcp_server_in_use', agentIds: [agent.body.id] });
    expect((await call('GET', `${serversPath()}/${id}`)).status).toBe(200);
  });

  it('hides a server from another organization (404, never 403)', async () => {
    const id = await registered();
    const viaTheirOrg = await call('GET', `${serversPath()}/${id}`, undefined, otherTenant.keys.admin);
    expect(viaTheirOrg.status).toBe(404);
    expect(viaTheirOrg.body.error.code).toBe('organization_not_found');

    for (const [method, path, body] of [
      ['GET', `${serversPath(otherTenant.organizationId)}/${id}`, undefined],
      ['PATCH', `${serversPath(otherTenant.organizationId)}/${id}`, { name: 'mine now' }],
      ['DELETE', `${serversPath(otherTenant.organizationId)}/${id}`, undefined],
      ['POST', `${serversPath(otherTenant.organizationId)}/${id}/mcp-smoke/tools-list`, undefined],
      [
        'POST',
        `${serversPath(otherTenant.organizationId)}/${id}/mcp-smoke/tools/add/call`,
        { arguments: {} },
      ],
    ] as const) {
      const result = await call(method, path, body, otherTenant.keys.admin);
      expect(result.status, `${method} ${path}`).toBe(404);
      expect(result.body.error.code).toBe('mcp_server_not_found');
    }
    const theirList = await call(
      'GET',
      serversPath(otherTenant.organizationId),
      undefined,
      otherTenant.keys.admin,
    );
    expect(theirList.body.data.map((server: { id: string }) => server.id)).not.toContain(id);
  });

  it('lets a viewer read servers but not change them or reach out to them', async () => {
    const id = await registered();
    expect((await call('GET', `${serversPath()}/${id}`, undefined, tenant.keys.viewer)).status).toBe(200);
    expect((await call('GET', serversPath(), undefined, tenant.keys.viewer)).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', serversPath(), { name: 'x', slug: uniqueSlug(), url: upstream.url }],
      ['PATCH', `${serversPath()}/${id}`, { name: 'x' }],
      ['DELETE', `${serversPath()}/${id}`, undefined],
      ['POST', `${serversPath()}/${id}/mcp-smoke/tools-list`, undefined],
      ['POST', `${serversPath()}/${id}/mcp-smoke/tools/add/call`, { arguments: { a: 1, b: 2 } }],
    ] as const) {
      const result = await call(method, path, body, tenant.keys.viewer);
      expect(result.status, `${method} ${path}`).toBe(403);
      expect(result.body.error.code).toBe('insufficient_permissions');
    }
    expect((await call('GET', serversPath(), undefined, tenant.keys.billing)).status).toBe(403);
  });

  it('refuses bad URLs with 400 invalid_url', async () => {
    for (const url of [
      'ftp://example.com/mcp',
      'not a url',
      'https://user:password@example.com/mcp',
      `https://example.com/${'a'.repeat(2100)}`,
    ]) {
      const result = await register({ url });
      expect(result.status, url).toBe(400);
      expect(result.body.error.code).toBe('invalid_url');
    }
    const id = await registered();
    const patched = await call('PATCH', `${serversPath()}/${id}`, { url: 'javascript:alert(1)' });
    expect(patched.status).toBe(400);
    expect(patched.body.error.code).toBe('invalid_url');
  });

  it('refuses bad headers with a message naming the header', async () => {
    const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, index) => [`X-Header-${index}`, 'v']));
    for (const [headers, fragment] of [
      [tooMany, 'at most 20 headers'],
      [{ 'Bad Name': 'v' }, 'body.headers.Bad Name'],
      [{ 'X-Injected': 'v\r\nX-Evil: 1' }, 'line breaks'],
      [{ 'Content-Type': 'text/plain' }, 'set by the MCP transport'],
      [{ Authorization: 'a', authorization: 'b' }, 'given twice'],
    ] as const) {
      const result = await register({ headers });
      expect(result.status, JSON.stringify(headers)).toBe(400);
      expect(result.body.error.code).toBe('validation_failed');
      expect(result.body.error.message).toContain(fragment);
    }
    const unknownField = await register({ kind: 'generated_openapi' });
    expect(unknownField.status).toBe(400);
  });

  it('describes every route with response schemas in the OpenAPI document', async () => {
    const document = await call('GET', '/api/v1/openapi.json');
    const detail = document.body.paths['/api/v1/organizations/{orgId}/mcp-servers/{serverId}'];
    expect(detail.get.tags).toEqual(['MCP servers']);
    expect(Object.keys(detail.get.responses['200'].content['application/json'].schema.properties)).toContain(
      'tools',
    );
    const call502 =
      document.body.paths[
        '/api/v1/organizations/{orgId}/mcp-servers/{serverId}/mcp-smoke/tools/{toolName}/call'
      ].post;
    expect(call502.responses['502']).toBeDefined();
    expect(call502['x-required-permission']).toBe('agents:manage');
  });
});

describe('MCP server failure modes', () => {
  let service: TestService;
  let tenant: Tenant;
  let silent: Awaited<ReturnType<typeof startPlainServer>>;
  let webPage: Awaited<ReturnType<typeof startPlainServer>>;

  beforeAll(async () => {
    // Short enough for the silent server's test, long enough that the web page answers in time on
    // a loaded machine.
    service = await startTestService({ MCPSTACK_MCP_TIMEOUT_MS: '3000' });
    tenant = await service.createTenant();
    silent = await startPlainServer(() => undefined);
    webPage = await startPlainServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end('<html><body>Welcome</body></html>');
    });
  });

  afterAll(async () => {
    await silent?.stop();
    await webPage?.stop();
    await service?.stop();
  });

  async function smokeList(url: string): Promise<CallResult> {
    const path = `/api/v1/organizations/${tenant.organizationId}/mcp-servers`;
    const created = await service.call('POST', path, {
      token: tenant.keys.developer,
      body: { name: 'x', slug: uniqueSlug(), url },
    });
    expect(created.status, created.text).toBe(201);
    return service.call('POST', `${path}/${created.body.id}/mcp-smoke/tools-list`, {
      token: tenant.keys.developer,
    });
  }

  it('reports a server that never answers as a timeout after MCPSTACK_MCP_TIMEOUT_MS', async () => {
    const result = await smokeList(`${silent.url}/mcp`);
    expect(result.status).toBe(502);
    expect(result.body.error.code).toBe('mcp_server_unreachable');
    expect(result.body.error.message).toContain('timeout after 3000 ms');
  });

  it('reports a web page as not an MCP server', async () => {
    const result = await smokeList(`${webPage.url}/mcp`);
    expect(result.status).toBe(502);
    expect(result.body.error.code).toBe('mcp_server_unreachable');
    expect(result.body.error.message).toContain('not an MCP server');
  });
});

describe('MCP server URLs with MCPSTACK_ALLOW_PRIVATE_URLS=false', () => {
  let service: TestService;
  let tenant: Tenant;

  beforeAll(async () => {
    service = await startTestService({ MCPSTACK_ALLOW_PRIVATE_URLS: 'false' });
    tenant = await service.createTenant();
  });

  afterAll(async () => {
    await service?.stop();
  });

  for (const [url, address] of [
    ['http://127.0.0.1:8080/mcp', '127.0.0.1'],
    ['http://localhost:8080/mcp', 'localhost does not resolve to a public address'],
    ['http://[::1]:8080/mcp', '::1'],
    ['http://10.1.2.3/mcp', '10.1.2.3'],
    ['http://169.254.169.254/latest/meta-data', '169.254.169.254'],
  ] as const) {
    it(`refuses ${url} with private_url_not_allowed`, async () => {
      const result = await service.call(
        'POST',
        `/api/v1/organizations/${tenant.organizationId}/mcp-servers`,
        {
          token: tenant.keys.developer,
          body: { name: 'Internal', slug: uniqueSlug(), url },
        },
      );
      expect(result.status).toBe(400);
      expect(result.body.error.code).toBe('private_url_not_allowed');
      expect(result.body.error.message).toContain(address);
      expect(result.body.error.message).toContain('MCPSTACK_ALLOW_PRIVATE_URLS=true only in development');
    });
  }

  it('accepts a public IP literal, and refuses to move it to a private address', async () => {
    const path = `/api/v1/organizations/${tenant.organizationId}/mcp-servers`;
    const created = await service.call('POST', path, {
      token: tenant.keys.developer,
      body: { name: 'Public', slug: uniqueSlug(), url: 'https://203.0.114.10/mcp' },
    });
    expect(created.status, created.text).toBe(201);
    const moved = await service.call('PATCH', `${path}/${created.body.id}`, {
      token: tenant.keys.developer,
      body: { url: 'http://192.168.0.10/mcp' },
    });
    expect(moved.status).toBe(400);
    expect(moved.body.error.code).toBe('private_url_not_allowed');
  });
});
