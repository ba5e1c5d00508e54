import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

let service: TestService;
let tenant: Tenant;
const agentsPath = () => `/api/v1/organizations/${tenant.organizationId}/agents`;

beforeAll(async () => {
  service = await startTestService({ MCPSTACK_MAX_BODY_BYTES: '4096' });
  tenant = await service.createTenant();
});
afterAll(() => service.stop());

function expectError(
  result: { status: number; body: { error: Record<string, unknown> } },
  status: number,
  code: string,
) {
  expect(result.status, JSON.stringify(result.body)).toBe(status);
  expect(result.body.error).toMatchObject({ code, status });
  expect(result.body.error.message).toEqual(expect.any(String));
  expect(result.body.error.requestId).toEqual(expect.any(String));
}

describe('one error shape for every failure', () => {
  it('answers malformed JSON with 400 invalid_json', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.admin,
      rawBody: '{"name": "x",',
      headers: { 'content-type': 'application/json' },
    });
    expectError(result, 400, 'invalid_json');
  });

  it('names the field and the reason for a wrong type', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.admin,
      body: { name: 'x', maxSteps: 'many' },
    });
    expectError(result, 400, 'validation_failed');
    expect(result.body.error.message).toMatch(/^body\.maxSteps: /);
    expect(result.body.error.issues).toEqual([{ path: 'body.maxSteps', message: expect.any(String) }]);
  });

  it('names nested fields with their index', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.admin,
      body: { name: 'x', starterPrompts: ['ok', 42] },
    });
    expectError(result, 400, 'validation_failed');
    expect(result.body.error.message).toContain('body.starterPrompts[1]');
  });

  it('refuses unknown fields rather than silently dropping them', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.admin,
      body: { name: 'x', modle: 'gpt-4o' },
    });
    expectError(result, 400, 'validation_failed');
    expect(result.body.error.message).toContain('unknown field "modle"');
  });

  it('says a required field is required', async () => {
    const result = await service.call('POST', agentsPath(), { token: tenant.keys.admin, body: {} });
    expectError(result, 400, 'validation_failed');
    expect(result.body.error.message).toBe('body.name: is required');
  });

  it('answers a JSON array or scalar body with validation_failed', async () => {
    for (const rawBody of ['[]', '"text"', 'null', '42']) {
      const result = await service.call('POST', agentsPath(), {
        token: tenant.keys.admin,
        rawBody,
        headers: { 'content-type': 'application/json' },
      });
      expectError(result, 400, 'validation_failed');
    }
  });

  it('answers an oversized body with 413 payload_too_large', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.admin,
      body: { name: 'x', instructions: 'y'.repeat(10_000) },
    });
    expectError(result, 413, 'payload_too_large');
  });

  it('answers a non-JSON body with 415 unsupported_media_type', async () => {
    const result = await service.call('POST', agentsPath(), {
      token: tenant.keys.admin,
      rawBody: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(result, 415, 'unsupported_media_type');
  });

  it('answers a missing body with validation_failed', async () => {
    const result = await service.call('POST', agentsPath(), { token: tenant.keys.admin });
    expectError(result, 400, 'validation_failed');
  });

  it('answers an unknown route with 404 not_found', async () => {
    const result = await service.call('GET', '/api/v1/nope', { token: tenant.keys.admin });
    expectError(result, 404, 'not_found');
  });

  it('answers a known path with the wrong method with 405 and Allow', async () => {
    const result = await service.call('PUT', agentsPath(), { token: tenant.keys.admin, body: { name: 'x' } });
    expectError(result, 405, 'method_not_allowed');
    expect(result.headers.get('allow')).toBe('GET, POST');
  });

  it('answers a bad query parameter with 400', async () => {
    for (const query of ['?limit=0', '?limit=501', '?limit=abc', '?unknown=1']) {
      const result = await service.call('GET', `${agentsPath()}${query}`, { token: tenant.keys.admin });
      expectError(result, 400, 'validation_failed');
    }
  });

  it('echoes a sane X-Request-Id and replaces an unsafe one', async () => {
    const echoed = await service.call('GET', '/api/v1/nope', { headers: { 'x-request-id': 'trace-123' } });
    expect(echoed.headers.get('x-request-id')).toBe('trace-123');
    expect(echoed.body.error.requestId).toBe('trace-123');
    const replaced = await service.call('GET', '/api/v1/nope', {
      headers: { 'x-request-id': 'bad id\twith spaces' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(/^req_/);
  });
});

describe('the store unreachable', () => {
  it('answers 503 service_unavailable, never a 500', async () => {
    const broken = await startTestService({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const result = await broken.call('GET', '/api/v1/organizations');
      expect(result.status).toBe(503);
      expect(result.body.error.code).toBe('service_unavailable');
      expect(result.headers.get('retry-after')).toBe('1');
      const ready = await broken.call('GET', '/readyz');
      expect(ready.status).toBe(503);
      // Chat fails closed: never unmetered.
      const chat = await broken.call('POST', '/api/v1/chat', {
        token: `mcpstack_pk_${'a'.repeat(32)}`,
        headers: { origin: 'https://shop.example' },
        body: { id: 'conv-12345678', messages: [{ role: 'user', parts: [] }], visitorId: 'visitor-1234' },
      });
      expect(chat.status).toBe(503);
      expect(chat.body.error.code).toBe('service_unavailable');
    } finally {
      await broken.running.close();
    }
    // The service starts its own PGlite first (seconds on a loaded machine), then meets no Redis.
  }, 40_000);
});
