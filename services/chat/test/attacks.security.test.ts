import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { actingAs, createAgent, createEmbedKey } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDnsServer, type TestDnsServer } from './support/dns-server.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

/**
 * The attack suite of the public chat API: a publishable key sits in public HTML, so everything it
 * can do is bounded. Each attempt gets its own error code, and nothing reaches the model. This file
 * grows with the product.
 */
const origin = 'https://shop.example';

let model: LocalModel;
let dns: TestDnsServer;
let service: TestService;
let tenant: Tenant;
let agentId: string;
let publicKey: string;

const visitor = () => `visitor-${randomBytes(6).toString('hex')}`;
const base = () => `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}`;
const body = (overrides: Record<string, unknown> = {}) => ({
  id: `conv-${randomBytes(8).toString('hex')}`,
  messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hello' }] }],
  visitorId: visitor(),
  ...overrides,
});

async function post(payload: unknown, headers: Record<string, string>, raw?: string) {
  const response = await fetch(`${service.url}/api/v1/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw ?? JSON.stringify(payload),
  });
  const text = await response.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined; // a stream: no error code
  }
  return { status: response.status, code, headers: response.headers };
}

const asKey = (key = publicKey, from: string | null = origin) => ({
  authorization: `Bearer ${key}`,
  ...(from === null ? {} : { origin: from }),
});

beforeAll(async () => {
  model = await startLocalModel();
  dns = await startTestDnsServer();
  service = await startTestService({
    OPENAI_BASE_URL: model.url,
    MCPSTACK_DNS_SERVERS: dns.address,
    MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'true',
    MCPSTACK_TRUSTED_PROXIES: '1',
    MCPSTACK_CHAT_MAX_BODY_BYTES: '65536',
  });
  tenant = await service.createTenant();
  const admin = actingAs(tenant, 'admin');
  agentId = await createAgent(service.call, admin, { name: 'Guarded', model: 'gpt-4.1-mini' });
  const domain = await service.call('POST', `${base()}/verified-domains`, {
    token: tenant.keys.admin,
    body: { domain: 'shop.example' },
  });
  dns.records.set(domain.body.dnsRecord.name, [[domain.body.dnsRecord.value]]);
  const confirmed = await service.call('POST', `${base()}/verified-domains/${domain.body.id}/confirm`, {
    token: tenant.keys.admin,
  });
  expect(confirmed.status, confirmed.text).toBe(200);
  publicKey = await createEmbedKey(service.call, admin, agentId, { allowedOrigins: [origin] });
});

afterAll(async () => {
  await service?.stop();
  await dns?.stop();
  await model?.close();
});

describe('attacks on the chat API: each refused with its code, none reaching the model', () => {
  let before = 0;
  const nothingReachedTheModel = () => expect(model.requests.length).toBe(before);

  it('a forged, look-alike or unverified Origin', async () => {
    before = model.requests.length;
    for (const from of [
      'https://evil.example',
      'https://shop.example.evil.com',
      'https://evil-shop.example',
      'https://shopexample',
      'http://shop.example',
      'https://shop.example:8443',
      'null',
      'https://shop.example/path',
      'https://*.example',
    ]) {
      const result = await post(body(), asKey(publicKey, from));
      expect(result.status, from).toBe(403);
      expect(result.code, from).toBe('origin_not_allowed');
      expect(result.headers.get('access-control-allow-origin'), from).toBeNull();
    }
    nothingReachedTheModel();
  });

  it('no Origin at all (a script outside a browser)', async () => {
    before = model.requests.length;
    const result = await post(body(), asKey(publicKey, null));
    expect(result).toMatchObject({ status: 403, code: 'origin_required' });
    nothingReachedTheModel();
  });

  it('an origin whose domain lost its verification', async () => {
    before = model.requests.length;
    const domain = await service.call('POST', `${base()}/verified-domains`, {
      token: tenant.keys.admin,
      body: { domain: 'brief.example' },
    });
    dns.records.set(domain.body.dnsRecord.name, [[domain.body.dnsRecord.value]]);
    await service.call('POST', `${base()}/verified-domains/${domain.body.id}/confirm`, {
      token: tenant.keys.admin,
    });
    const key = await service.call('POST', `${base()}/embed-keys`, {
      token: tenant.keys.admin,
      body: { allowedOrigins: ['https://brief.example'] },
    });
    await service.call('DELETE', `${base()}/verified-domains/${domain.body.id}`, {
      token: tenant.keys.admin,
    });
    const result = await post(body(), asKey(key.body.publicKey, 'https://brief.example'));
    expect(result).toMatchObject({ status: 403, code: 'origin_not_allowed' });
    nothingReachedTheModel();
  });

  it('a revoked key, an unknown key, a malformed key', async () => {
    before = model.requests.length;
    const key = await service.call('POST', `${base()}/embed-keys`, {
      token: tenant.keys.admin,
      body: { allowedOrigins: [origin] },
    });
    await service.call('DELETE', `${base()}/embed-keys/${key.body.id}`, { token: tenant.keys.admin });
    for (const credential of [
      key.body.publicKey,
      `mcpstack_pk_${'f'.repeat(32)}`,
      'mcpstack_pk_../../etc',
      'x'.repeat(5000),
    ]) {
      const result = await post(body(), asKey(credential));
      expect(result, credential.slice(0, 20)).toMatchObject({ status: 401, code: 'invalid_public_key' });
    }
    nothingReachedTheModel();
  });

  it('a key the service already knows: refused on every chat route once revoked, or once only its entity is gone', async () => {
    const create = () =>
      service.call('POST', `${base()}/embed-keys`, {
        token: tenant.keys.admin,
        body: { allowedOrigins: [origin] },
      });
    const chatRoutes = (key: string) => {
      const headers = asKey(key);
      const get = (path: string) => fetch(`${service.url}/api/v1/chat${path}`, { headers });
      return [
        ['POST an anonymous turn', () => post(body(), headers)],
        ['POST a malformed turn', () => post({ messages: 'not a list' }, headers)],
        ['GET config', () => get('/config')],
        ['GET budget', () => get(`/budget?visitorId=${visitor()}`)],
        ['GET messages', () => get(`/conversations/conv-known/messages?visitorId=${visitor()}`)],
        ['GET stream', () => get(`/conv-known/stream?visitorId=${visitor()}`)],
        [
          'DELETE stream',
          () =>
            fetch(`${service.url}/api/v1/chat/conv-known/stream?visitorId=${visitor()}`, {
              method: 'DELETE',
              headers,
            }),
        ],
      ] as const;
    };
    const codeOf = async (result: Response | { status: number; code?: string }) =>
      result instanceof Response
        ? ((await result.json()) as { error?: { code?: string } }).error?.code
        : result.code;

    const revoked = await create();
    const orphaned = await create();
    // Both keys used once: this process remembers what their lookups say.
    for (const key of [revoked.body.publicKey, orphaned.body.publicKey]) {
      expect((await post(body(), asKey(key))).status).toBe(200);
    }
    before = model.requests.length;
    expect(
      (await service.call('DELETE', `${base()}/embed-keys/${revoked.body.id}`, { token: tenant.keys.admin }))
        .status,
    ).toBe(204);
    // A revocation that stopped after its first write: the entity is gone, the lookup still there.
    await service.deps.redis.del(
      service.deps.keys.organization(tenant.organizationId).entity('embed-key', orphaned.body.id),
    );
    for (const key of [revoked.body.publicKey, orphaned.body.publicKey]) {
      for (const [name, attempt] of chatRoutes(key)) {
        const result = await attempt();
        expect({ status: result.status, code: await codeOf(result) }, name).toEqual({
          status: 401,
          code: 'invalid_public_key',
        });
      }
    }
    nothingReachedTheModel();
  });

  it('a secret key in the browser path', async () => {
    before = model.requests.length;
    const result = await post(body(), asKey(tenant.keys.admin));
    expect(result).toMatchObject({ status: 401, code: 'secret_key_not_allowed' });
    nothingReachedTheModel();
  });

  it('many visitors from one IP hit the IP limit; many IPs of one visitor hit the visitor limit', async () => {
    await service.call('PATCH', base(), {
      token: tenant.keys.admin,
      body: { rateLimits: { ipPerMinute: 5, visitorPerMinute: 3 } },
    });
    try {
      before = model.requests.length;
      const fromOneIp = [];
      for (let i = 0; i < 8; i++) {
        fromOneIp.push(await post(body({ messages: [] }), { ...asKey(), 'x-forwarded-for': '203.0.113.7' }));
      }
      // The limit is counted before validation: 5 pass the gate (and fail validation), then 429.
      expect(fromOneIp.slice(0, 5).map((result) => result.code)).toEqual(Array(5).fill('validation_failed'));
      for (const result of fromOneIp.slice(5)) {
        expect(result).toMatchObject({ status: 429, code: 'rate_limited' });
        expect(Number(result.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(result.headers.get('access-control-allow-origin')).toBe(origin);
      }
      const visitorId = visitor();
      const fromManyIps = [];
      for (let i = 0; i < 5; i++) {
        fromManyIps.push(
          await post(body({ visitorId, messages: [] }), {
            ...asKey(),
            'x-forwarded-for': `198.51.100.${i + 1}`,
          }),
        );
      }
      expect(fromManyIps.slice(0, 3).every((result) => result.code === 'validation_failed')).toBe(true);
      expect(fromManyIps.slice(3).map((result) => result.code)).toEqual(['rate_limited', 'rate_limited']);
      nothingReachedTheModel();
    } finally {
      await service.call('PATCH', base(), {
        token: tenant.keys.admin,
        body: { rateLimits: { ipPerMinute: null, visitorPerMinute: null } },
      });
    }
  });

  it('a spoofed X-Forwarded-For chain cannot pick its own IP beyond the trusted proxies', async () => {
    await service.call('PATCH', base(), {
      token: tenant.keys.admin,
      body: { rateLimits: { ipPerMinute: 2 } },
    });
    try {
      const results = [];
      for (let i = 0; i < 4; i++) {
        // The attacker rotates the left part; the one trusted proxy appended the same real address.
        results.push(
          await post(body({ messages: [] }), { ...asKey(), 'x-forwarded-for': `10.0.0.${i}, 192.0.2.55` }),
        );
      }
      expect(results.map((result) => result.code)).toEqual([
        'validation_failed',
        'validation_failed',
        'rate_limited',
        'rate_limited',
      ]);
    } finally {
      await service.call('PATCH', base(), {
        token: tenant.keys.admin,
        body: { rateLimits: { ipPerMinute: null } },
      });
    }
  });

  it('too many answers streaming at once for one visitor', async () => {
    await service.call('PATCH', base(), {
      token: tenant.keys.admin,
      body: { rateLimits: { maxStreamsPerVisitor: 1 } },
    });
    try {
      const visitorId = visitor();
      const slow = await fetch(`${service.url}/api/v1/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...asKey() },
        body: JSON.stringify(
          body({
            visitorId,
            messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: '[slow] [long] hi' }] }],
          }),
        ),
      });
      expect(slow.status).toBe(200);
      const second = await post(body({ visitorId }), asKey());
      expect(second).toMatchObject({ status: 429, code: 'too_many_streams' });
      await slow.body?.cancel();
    } finally {
      await service.call('PATCH', base(), {
        token: tenant.keys.admin,
        body: { rateLimits: { maxStreamsPerVisitor: null } },
      });
    }
  });

  it('oversized and malformed bodies', async () => {
    before = model.requests.length;
    const huge = await post(undefined, asKey(), JSON.stringify(body({ padding: 'x'.repeat(70_000) })));
    expect(huge).toMatchObject({ status: 413, code: 'payload_too_large' });
    const long = await post(
      body({ messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'y'.repeat(9000) }] }] }),
      asKey(),
    );
    expect(long).toMatchObject({ status: 413, code: 'message_too_long' });
    for (const raw of ['{', '[]', 'null', '"text"', '{"id": 1}']) {
      const result = await post(undefined, asKey(), raw);
      expect(result.status, raw).toBe(400);
      expect(['invalid_json', 'validation_failed'], raw).toContain(result.code);
    }
    const wrongType = await fetch(`${service.url}/api/v1/chat`, {
      method: 'POST',
      headers: { ...asKey(), 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(wrongType.status).toBe(415);
    const prototype = await post(undefined, asKey(), '{"__proto__": {"admin": true}, "constructor": {}}');
    expect(prototype.status).toBe(400);
    nothingReachedTheModel();
  });

  it('a body whose Content-Encoding lies, or names an encoding no one speaks', async () => {
    before = model.requests.length;
    const send = (encoding: string, payload: string | Uint8Array) =>
      fetch(`${service.url}/api/v1/chat`, {
        method: 'POST',
        headers: {
          ...asKey(),
          'x-forwarded-for': '203.0.113.41',
          'content-type': 'application/json',
          'content-encoding': encoding,
        },
        body: payload,
      });
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const response = await send(encoding, 'garbage, not compressed at all');
      const answer = (await response.json()) as { error: { code: string } };
      expect(response.status, encoding).toBe(400);
      expect(answer.error.code, encoding).toBe('invalid_body');
    }
    const unknown = await send('x-squeeze', JSON.stringify(body()));
    expect(unknown.status).toBe(415);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe(
      'unsupported_content_encoding',
    );
    // A gzip bomb stays within the body limit, counted after decompression.
    const bomb = await send('gzip', gzipSync(JSON.stringify(body({ padding: ' '.repeat(10_000_000) }))));
    expect(bomb.status).toBe(413);
    nothingReachedTheModel();
  });

  it('a malformed percent-escape in a path parameter, with or without a key', async () => {
    before = model.requests.length;
    for (const conversation of ['%E0%A4%A', '%ZZ', '%']) {
      for (const headers of [asKey(), {}]) {
        const response = await fetch(
          `${service.url}/api/v1/chat/conversations/${conversation}/messages?visitorId=${visitor()}`,
          { headers: { ...headers, 'x-forwarded-for': '203.0.113.42' } },
        );
        const answer = (await response.json()) as { error: { code: string } };
        // Either the path is refused (400) or the key check comes first (401); never a 500.
        expect([400, 401], conversation).toContain(response.status);
        if (response.status === 400) expect(answer.error.code).toBe('invalid_path_parameter');
      }
    }
    const withKey = await fetch(
      `${service.url}/api/v1/chat/conversations/%E0%A4%A/messages?visitorId=${visitor()}`,
      { headers: { ...asKey(), 'x-forwarded-for': '203.0.113.42' } },
    );
    expect(withKey.status).toBe(400);
    nothingReachedTheModel();
  });

  it('a wrong method on a chat path is 405 with Allow; preflights still work', async () => {
    for (const [method, path, allow] of [
      ['GET', '/api/v1/chat', 'POST, OPTIONS'],
      ['PUT', '/api/v1/chat', 'POST, OPTIONS'],
      ['DELETE', '/api/v1/chat/config', 'GET, OPTIONS'],
      ['POST', '/api/v1/chat/conversations/conv-12345678/messages', 'GET, OPTIONS'],
    ] as const) {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: { ...asKey(), 'x-forwarded-for': '203.0.113.43' },
      });
      const answer = (await response.json()) as { error: { code: string } };
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(answer.error.code).toBe('method_not_allowed');
      expect(response.headers.get('allow')).toBe(allow);
    }
    const preflight = await fetch(`${service.url}/api/v1/chat`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
  });

  it('another visitor trying to read or continue a conversation', async () => {
    const owner = visitor();
    const first = body({ visitorId: owner });
    const answered = await post(first, asKey());
    expect(answered.status).toBe(200);
    before = model.requests.length;
    const hijack = await post(body({ id: first.id, visitorId: visitor() }), asKey());
    expect(hijack).toMatchObject({ status: 404, code: 'conversation_not_found' });
    const read = await fetch(
      `${service.url}/api/v1/chat/conversations/${first.id}/messages?visitorId=${visitor()}`,
      {
        headers: asKey(),
      },
    );
    expect(read.status).toBe(404);
    nothingReachedTheModel();
  });

  it('never sends secrets or wildcard CORS to the browser, and sets security headers', async () => {
    const config = await fetch(`${service.url}/api/v1/chat/config`, { headers: asKey() });
    const text = await config.text();
    expect(text).not.toContain('mcpstack_sk_');
    expect(text).not.toContain('instructions');
    expect(config.headers.get('access-control-allow-origin')).toBe(origin);
    expect(config.headers.get('access-control-allow-credentials')).toBeNull();
    expect(config.headers.get('x-content-type-options')).toBe('nosniff');
    expect(config.headers.get('vary')).toContain('Origin');
  });
});

describe('the management API limit per service key', () => {
  it('answers 429 with Retry-After past the limit', async () => {
    const limited = await startTestService({ MCPSTACK_RATE_LIMIT_API_KEY_PER_MINUTE: '3' });
    try {
      const org = await limited.createTenant();
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const result = await limited.call('GET', `/api/v1/organizations/${org.organizationId}`, {
          token: org.keys.viewer,
        });
        statuses.push(result.status);
        if (result.status === 429) expect(result.headers.get('retry-after')).not.toBeNull();
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await limited.stop();
    }
  });
});
