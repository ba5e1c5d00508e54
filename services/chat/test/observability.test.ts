import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../src/app.ts';
import { adminToken, startTestService, type TestService } from './support/harness.ts';

const metricsToken = `test-metrics-token-${'m'.repeat(32)}`;
let service: TestService;
beforeAll(async () => {
  service = await startTestService({ MCPSTACK_METRICS_TOKEN: metricsToken });
});
afterAll(() => service.stop());

describe('health, readiness and metrics', () => {
  it('is alive and ready when Redis answers', async () => {
    expect((await service.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await service.call('GET', '/readyz')).body).toEqual({ status: 'ready', redis: 'ok' });
  });

  it('exposes Prometheus metrics labelled by route pattern, not by raw path', async () => {
    const tenant = await service.createTenant();
    await service.call('GET', `/api/v1/organizations/${tenant.organizationId}`, {
      token: tenant.keys.viewer,
    });
    const result = await service.call('GET', '/metrics', { token: metricsToken });
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toContain('text/plain');
    expect(result.text).toContain(
      'mcpstack_http_requests_total{method="GET",route="/api/v1/organizations/:orgId",status="200"}',
    );
    expect(result.text).not.toContain(tenant.organizationId);
  });
});

describe('logs', () => {
  it('writes one JSON line per request and never a secret', async () => {
    const tenant = await service.createTenant();
    const created = await service.call('POST', `/api/v1/organizations/${tenant.organizationId}/api-keys`, {
      token: tenant.keys.admin,
      body: { name: 'secret-check' },
    });
    await service.call('GET', '/api/v1/cli/whoami', { token: created.body.fullKey });
    await service.call('GET', '/api/v1/cli/whoami', {
      token: null,
      headers: { 'x-api-key': created.body.fullKey },
    });
    const text = service.logs.join('');
    for (const secret of [
      created.body.fullKey,
      adminToken,
      tenant.keys.admin,
      created.body.fullKey.split('_').at(-1),
    ]) {
      expect(text).not.toContain(secret);
    }
    const lines = service.logs.map((line) => JSON.parse(line));
    const request = lines.find((line) => line.msg === 'request' && line.route === '/api/v1/cli/whoami');
    expect(request).toMatchObject({
      level: 'info',
      method: 'GET',
      status: 200,
      principal: 'service_account',
    });
    expect(request.requestId).toEqual(expect.any(String));
  });

  it('censors secrets even when code logs an object that holds them', () => {
    const lines: string[] = [];
    service.deps.logger.info(
      { request: { headers: { authorization: 'Bearer mcpstack_sk_leak' } }, fullKey: 'mcpstack_sk_leak2' },
      'oops',
    );
    lines.push(...service.logs.filter((line) => line.includes('"oops"')));
    expect(lines.join('')).not.toContain('mcpstack_sk_leak');
  });
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and describes every route with its schemas', async () => {
    const result = await service.call('GET', '/api/v1/openapi.json', { token: null });
    expect(result.status).toBe(200);
    const document = result.body;
    expect(document.openapi).toBe('3.1.0');
    for (const route of apiRoutes) {
      const operation = document.paths[route.path]?.[route.method];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      expect(operation.operationId).toBe(route.operationId);
      if (route.body) expect(operation.requestBody.content['application/json'].schema.type).toBe('object');
    }
    const createAgent = document.paths['/api/v1/organizations/{orgId}/agents'].post;
    const schema = createAgent.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(['name']);
    expect(schema.additionalProperties).toBe(false);
    expect(createAgent.parameters).toEqual([
      expect.objectContaining({ name: 'orgId', in: 'path', required: true }),
    ]);
    const list = document.paths['/api/v1/organizations/{orgId}/agents'].get;
    expect(list.parameters.map((parameter: { name: string }) => parameter.name)).toEqual([
      'orgId',
      'limit',
      'cursor',
    ]);
  });
});
