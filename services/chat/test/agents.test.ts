import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

let service: TestService;
let tenant: Tenant;
const agentsPath = () => `/api/v1/organizations/${tenant.organizationId}/agents`;

beforeAll(async () => {
  service = await startTestService({
    MCPSTACK_MODEL_CATALOG: JSON.stringify([
      {
        id: 'local-llama',
        name: 'Local Llama',
        provider: 'local',
        inputUsdPerMillionTokens: 0.1,
        outputUsdPerMillionTokens: 0.2,
        maxOutputTokens: 4096,
      },
    ]),
  });
  tenant = await service.createTenant();
});
afterAll(() => service.stop());

describe('agent model options', () => {
  it('lists the catalog with per-million-token prices, configuration entries included', async () => {
    const result = await service.call(
      'GET',
      `/api/v1/organizations/${tenant.organizationId}/agent-model-options`,
      { token: tenant.keys.viewer },
    );
    expect(result.status).toBe(200);
    const mini = result.body.data.find((model: { id: string }) => model.id === 'gpt-4o-mini');
    expect(mini).toMatchObject({
      inputUsdPerMillionTokens: 0.15,
      cachedInputUsdPerMillionTokens: 0.075,
      outputUsdPerMillionTokens: 0.6,
    });
    const local = result.body.data.find((model: { id: string }) => model.id === 'local-llama');
    // no cached price configured: cached input is billed as input
    expect(local).toMatchObject({
      provider: 'local',
      inputUsdPerMillionTokens: 0.1,
      cachedInputUsdPerMillionTokens: 0.1,
      outputUsdPerMillionTokens: 0.2,
    });
    expect(result.body.data.filter((model: { isDefault: boolean }) => model.isDefault)).toHaveLength(1);
  });
});

describe('agents', () => {
  it('creates an agent with sensible defaults', async () => {
    const created = await service.call('POST', agentsPath(), {
      token: tenant.keys.developer,
      body: { name: 'Support' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Support',
      organizationId: tenant.organizationId,
      model: 'gpt-4.1-mini',
      mcpServerIds: [],
      maxSteps: 5,
      maxOutputTokens: 1024,
      starterPrompts: [],
      theme: { primaryColor: '#4f46e5', position: 'bottom-right', colorScheme: 'auto' },
    });
    expect(created.body.id).toMatch(/^agent_/);
  });

  it('round-trips every field and merges theme on update', async () => {
    const created = await service.call('POST', agentsPath(), {
      token: tenant.keys.developer,
      body: {
        name: 'Store helper',
        description: 'Answers order questions',
        model: 'local-llama',
        instructions: 'Be brief.',
        temperature: 0.2,
        maxOutputTokens: 2048,
        maxSteps: 3,
        welcomeMessage: 'Hi! Ask me about your order.',
        starterPrompts: ['Where is my order?'],
        theme: { primaryColor: '#112233', colorScheme: 'dark' },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.theme).toEqual({
      primaryColor: '#112233',
      position: 'bottom-right',
      colorScheme: 'dark',
    });
    const patched = await service.call('PATCH', `${agentsPath()}/${created.body.id}`, {
      token: tenant.keys.developer,
      body: { theme: { position: 'bottom-left' }, temperature: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.theme).toEqual({
      primaryColor: '#112233',
      position: 'bottom-left',
      colorScheme: 'dark',
    });
    expect(patched.body.temperature).toBeNull();
    expect(patched.body.instructions).toBe('Be brief.');
    const got = await service.call('GET', `${agentsPath()}/${created.body.id}`, {
      token: tenant.keys.viewer,
    });
    expect(got.body).toEqual(patched.body);
  });

  it('refuses a model outside the catalog and lists the options', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.developer,
      body: { name: 'x', model: 'gpt-99' },
    });
    expect(result.status).toBe(400);
    expect(result.body.error.code).toBe('unknown_model');
    expect(result.body.error.options).toContain('local-llama');
  });

  it('refuses maxOutputTokens above the model’s limit', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.developer,
      body: { name: 'x', model: 'local-llama', maxOutputTokens: 5000 },
    });
    expect(result.status).toBe(400);
    expect(result.body.error.message).toContain('4096');
  });

  it('refuses MCP servers that are not in the organization', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.developer,
      body: { name: 'x', mcpServerIds: ['mcp_missing'] },
    });
    expect(result.status).toBe(400);
    expect(result.body.error.code).toBe('unknown_mcp_server');
    expect(result.body.error.missing).toEqual(['mcp_missing']);
  });

  it('keeps both of two concurrent updates to different fields', async () => {
    const created = await service.call('POST', agentsPath(), {
      token: tenant.keys.developer,
      body: { name: 'Concurrent' },
    });
    const path = `${agentsPath()}/${created.body.id}`;
    await Promise.all([
      service.call('PATCH', path, { token: tenant.keys.developer, body: { welcomeMessage: 'Hello' } }),
      service.call('PATCH', path, { token: tenant.keys.developer, body: { instructions: 'Be kind.' } }),
      service.call('PATCH', path, { token: tenant.keys.developer, body: { starterPrompts: ['Hi'] } }),
    ]);
    const got = await service.call('GET', path, { token: tenant.keys.viewer });
    expect(got.body).toMatchObject({
      welcomeMessage: 'Hello',
      instructions: 'Be kind.',
      starterPrompts: ['Hi'],
    });
  });

  it('deletes an agent', async () => {
    const created = await service.call('POST', agentsPath(), {
      token: tenant.keys.developer,
      body: { name: 'Gone' },
    });
    expect(
      (await service.call('DELETE', `${agentsPath()}/${created.body.id}`, { token: tenant.keys.developer }))
        .status,
    ).toBe(204);
    const got = await service.call('GET', `${agentsPath()}/${created.body.id}`, {
      token: tenant.keys.viewer,
    });
    expect(got.status).toBe(404);
    expect(got.body.error.code).toBe('agent_not_found');
  });
});
