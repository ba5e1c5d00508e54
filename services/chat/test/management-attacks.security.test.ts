import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { originOnDomains } from '../src/domain/embed-origins.ts';
import { isPublicSuffix } from '../src/domain/verified-domains.ts';
import { startTestService, type Tenant, type TestService, uniqueSlug } from './support/harness.ts';

/**
 * The attack suite of the management API and the server's edges: what anyone on the network can
 * send (no key at all), and what a key of a lesser role can learn. Every probe gets a 4xx with its
 * own code, never a 500. This file grows with the product.
 */
let service: TestService;
let tenant: Tenant;
const agentsPath = () => `/api/v1/organizations/${tenant.organizationId}/agents`;

beforeAll(async () => {
  // The URL guard is on, as in production (the harness turns it off for tests with local servers).
  service = await startTestService({ MCPSTACK_ALLOW_PRIVATE_URLS: 'false' });
  tenant = await service.createTenant();
});
afterAll(() => service?.stop());

function expectError(result: { status: number; text: string; body: unknown }, status: number, code: string) {
  expect(result.status, result.text).toBe(status);
  expect((result.body as { error: { code: string } }).error).toMatchObject({ code, status });
}

describe('malformed requests: 4xx with a code, never a 500', () => {
  it('a malformed percent-escape in a path parameter, before any credential is checked', async () => {
    for (const path of [
      '/api/v1/organizations/%E0%A4%A/agents',
      '/api/v1/organizations/%ZZ',
      `/api/v1/organizations/${'%'}/api-keys`,
    ]) {
      expectError(await service.call('GET', path, { token: null }), 400, 'invalid_path_parameter');
    }
    for (const path of [`${agentsPath()}/%ZZ`, `${agentsPath()}/%E0%A4%A/embed-keys`]) {
      expectError(
        await service.call('GET', path, { token: tenant.keys.admin }),
        400,
        'invalid_path_parameter',
      );
      expectError(
        await service.call('DELETE', path, { token: tenant.keys.admin }),
        400,
        'invalid_path_parameter',
      );
    }
    const logged = service.logs.join('');
    expect(logged).not.toContain('unhandled error');
  });

  it('a body whose Content-Encoding does not match it', async () => {
    const send = (encoding: string, body: string | Uint8Array, path = agentsPath()) =>
      service.call('POST', path, {
        token: tenant.keys.admin,
        rawBody: body as string,
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
      });
    for (const encoding of ['gzip', 'deflate', 'br']) {
      expectError(await send(encoding, 'garbage, not compressed'), 400, 'invalid_body');
      // Truncated: a real stream that ends halfway.
      const whole = gzipSync(JSON.stringify({ name: 'Half' }));
      expectError(await send('gzip', whole.subarray(0, whole.length - 6)), 400, 'invalid_body');
    }
    expectError(await send('x-squeeze', '{"name":"x"}'), 415, 'unsupported_content_encoding');
    // The webhook reads its raw body through the same kind of parser: the same answer, no 500.
    const webhook = await service.call('POST', '/api/v1/webhooks/stripe', {
      token: null,
      rawBody: 'garbage',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'stripe-signature': 't=1' },
    });
    expectError(webhook, 400, 'invalid_body');
    // Honest compression still works: the refusal above is about the lie, not the encoding.
    for (const [encoding, compress] of [
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ] as const) {
      const created = await send(encoding, compress(JSON.stringify({ name: `Compressed ${encoding}` })));
      expect(created.status, created.text).toBe(201);
    }
    expect(service.logs.join('')).not.toContain('unhandled error');
  });

  it('a wrong method on a known path, OPTIONS included, is 405 with the real methods in Allow', async () => {
    for (const method of ['OPTIONS', 'PUT', 'PATCH']) {
      const result = await service.call(method, agentsPath(), { token: tenant.keys.admin });
      expectError(result, 405, 'method_not_allowed');
      expect(result.headers.get('allow')).toBe('GET, POST');
    }
    const anonymous = await service.call('OPTIONS', `/api/v1/organizations/${tenant.organizationId}`, {
      token: null,
    });
    expectError(anonymous, 405, 'method_not_allowed');
    expect(anonymous.headers.get('allow')).toBe('GET, PATCH, DELETE');
    // The management API answers no CORS preflight: it is not for browsers.
    expect(anonymous.headers.get('access-control-allow-origin')).toBeNull();
    expectError(await service.call('OPTIONS', '/api/v1/nothing-here', { token: null }), 404, 'not_found');
  });
});

describe('what a developer key can learn about the network', () => {
  it('refuses an MCP server on an internal name without saying what the name resolved to', async () => {
    const result = await service.call('POST', `/api/v1/organizations/${tenant.organizationId}/mcp-servers`, {
      token: tenant.keys.developer,
      body: { name: 'Internal', slug: uniqueSlug(), url: 'http://localhost:8080/mcp' },
    });
    expectError(result, 400, 'private_url_not_allowed');
    expect(result.text).not.toMatch(/127\.0\.0\.1|::1|loopback|"address"/);
    expect(result.body.error.message).toContain('localhost does not resolve to a public address');
    // The operator still finds the detail in the log.
    const line = service.logs.find(
      (entry) => entry.includes('"request refused"') && entry.includes('localhost'),
    );
    expect(line).toMatch(/127\.0\.0\.1|::1/);
  });

  it('still names an IP literal the caller typed', async () => {
    const result = await service.call('POST', `/api/v1/organizations/${tenant.organizationId}/mcp-servers`, {
      token: tenant.keys.developer,
      body: { name: 'Metadata', slug: uniqueSlug(), url: 'http://169.254.169.254/latest' },
    });
    expectError(result, 400, 'private_url_not_allowed');
    expect(result.body.error.message).toContain('169.254.169.254 is a link-local address');
  });
});

describe('domains to verify', () => {
  it('refuses public suffixes, the private ones included, and accepts a name under them', async () => {
    const agent = await service.call('POST', agentsPath(), {
      token: tenant.keys.admin,
      body: { name: 'Domains' },
    });
    const domains = `${agentsPath()}/${agent.body.id}/verified-domains`;
    for (const domain of [
      'co.uk',
      'CO.UK.',
      'github.io',
      's3.amazonaws.com',
      'blogspot.com',
      'com',
      'xn--p1ai',
    ]) {
      const result = await service.call('POST', domains, { token: tenant.keys.admin, body: { domain } });
      expect([400], domain).toContain(result.status);
      expect(['public_suffix_not_allowed', 'validation_failed'], domain).toContain(result.body.error.code);
      if (domain.includes('.')) expect(result.body.error.code, domain).toBe('public_suffix_not_allowed');
    }
    for (const domain of ['shop.github.io', 'example.co.uk', 'shop.example']) {
      const result = await service.call('POST', domains, { token: tenant.keys.admin, body: { domain } });
      expect(result.status, `${domain}: ${result.text}`).toBe(201);
    }
    const listed = await service.call('GET', domains, { token: tenant.keys.admin });
    expect(listed.body.data.map((entry: { domain: string }) => entry.domain).sort()).toEqual([
      'example.co.uk',
      'shop.example',
      'shop.github.io',
    ]);
  });

  it('never lets a suffix verified before this check cover origins under it', () => {
    expect(isPublicSuffix('github.io')).toBe(true);
    expect(originOnDomains('https://evil.github.io', ['github.io'])).toBe(false);
    expect(originOnDomains('https://shop.github.io', ['shop.github.io'])).toBe(true);
  });
});

describe('API keys: last used', () => {
  const keysPath = () => `/api/v1/organizations/${tenant.organizationId}/api-keys`;
  const lastUsedOf = async (keyId: string) => {
    const listed = await service.call('GET', `${keysPath()}?limit=500`, { token: tenant.keys.admin });
    return listed.body.data.find((key: { id: string }) => key.id === keyId)?.lastUsedAt as string | null;
  };

  it('records the time once a minute per key, however many requests it makes', async () => {
    const created = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'last-used', roleKey: 'viewer' },
    });
    expect(created.body.lastUsedAt).toBeNull();
    const keyId = created.body.id as string;
    expect(await lastUsedOf(keyId)).toBeNull();

    const organization = `/api/v1/organizations/${tenant.organizationId}`;
    const before = Date.now();
    expect((await service.call('GET', organization, { token: created.body.fullKey })).status).toBe(200);
    await expect.poll(() => lastUsedOf(keyId), { timeout: 20_000 }).not.toBeNull();
    const first = (await lastUsedOf(keyId)) as string;
    expect(Date.parse(first)).toBeGreaterThanOrEqual(before - 1000);

    // Many more within the minute write nothing: a sentinel in place of the time survives them.
    const keys = service.deps.keys.organization(tenant.organizationId);
    await service.deps.redis.hset(keys.apiKeyLastUsed, keyId, 'sentinel');
    for (let i = 0; i < 5; i++) {
      await service.call('GET', organization, { token: created.body.fullKey });
    }
    const gate = await service.deps.redis.ttl(keys.apiKeyLastUsedGate(keyId));
    expect(gate).toBeGreaterThan(0);
    expect(gate).toBeLessThanOrEqual(60);
    // Give any write a request could have started the time to land, then check none did.
    for (let i = 0; i < 3; i++) await service.call('GET', organization, { token: tenant.keys.viewer });
    expect(await lastUsedOf(keyId)).toBe('sentinel');

    // A minute later (the gate expired), the next request writes the new time.
    await service.deps.redis.del(keys.apiKeyLastUsedGate(keyId));
    await service.deps.redis.hset(keys.apiKeyLastUsed, keyId, '2020-01-01T00:00:00.000Z');
    await service.call('GET', organization, { token: created.body.fullKey });
    await expect.poll(() => lastUsedOf(keyId), { timeout: 20_000 }).not.toBe('2020-01-01T00:00:00.000Z');
  });

  it('publishes lastUsedAt in the OpenAPI document of the key list', async () => {
    const document = (await service.call('GET', '/api/v1/openapi.json', { token: null })).body;
    const list = document.paths['/api/v1/organizations/{orgId}/api-keys'].get;
    const schema = list.responses['200'].content['application/json'].schema;
    const item = schema.properties.data.items;
    expect(item.required).toContain('lastUsedAt');
    expect(item.properties.lastUsedAt).toBeDefined();
  });
});
