import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliConfig } from '../src/http/routes/cli.ts';
import { startTestService, type TestService } from './support/harness.ts';

let service: TestService;
beforeAll(async () => {
  service = await startTestService();
});
afterAll(() => service.stop());

describe('GET /api/v1/cli/config', () => {
  it('answers the bootstrap config without any credential', async () => {
    const config = await service.call('GET', '/api/v1/cli/config', { token: null });
    expect(config.status).toBe(200);
    expect(config.body).toEqual(cliConfig);
    expect(config.body).toMatchObject({ apiVersion: 'v1', openApiUrl: '/api/v1/openapi.json' });
    expect(config.body.authMethods.map((method: { type: string }) => method.type)).toEqual([
      'service_account',
      'operator',
    ]);
  });

  it('points at a document that exists and describes both CLI routes', async () => {
    const config = await service.call('GET', '/api/v1/cli/config', { token: null });
    const document = await service.call('GET', config.body.openApiUrl, { token: null });
    expect(document.status).toBe(200);
    expect(document.body.paths['/api/v1/cli/config'].get).toMatchObject({
      operationId: 'getCliConfig',
      security: [],
    });
    expect(document.body.paths['/api/v1/cli/whoami'].get.operationId).toBe('whoami');
    const whoami = await service.call('GET', config.body.whoamiUrl, { token: null });
    expect(whoami.status).toBe(401);
  });

  it('ignores a bad credential rather than refusing a public route', async () => {
    const config = await service.call('GET', '/api/v1/cli/config', { token: 'mcpstack_sk_00000000_wrong' });
    expect(config.status).toBe(200);
  });
});

describe('GET /api/v1/cli/whoami', () => {
  it('answers the key’s organization, id, name, role and permissions', async () => {
    const tenant = await service.createTenant();
    const whoami = await service.call('GET', '/api/v1/cli/whoami', { token: tenant.keys.viewer });
    expect(whoami.status).toBe(200);
    expect(whoami.body).toMatchObject({
      type: 'service_account',
      organizationId: tenant.organizationId,
      name: 'viewer-key',
      roleKey: 'viewer',
      permissions: ['organization:read', 'agents:read', 'usage:read'],
    });
    expect(whoami.body.keyId).toMatch(/^key_/);
  });
});
