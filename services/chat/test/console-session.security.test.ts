import { request as httpRequest } from 'node:http';
import { actingAs, createAgent } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, startTestService, type Tenant, type TestService } from './support/harness.ts';

/**
 * The console's session cookie, tried from the wrong side: another site posting with the cookie,
 * requests without the CSRF token, a revoked key, an expired session, and the cookie's flags.
 */

let service: TestService;
let tenant: Tenant;
let origin: string;
let clockOffsetMs = 0;

beforeAll(async () => {
  service = await startTestService();
  origin = service.url;
  const realNow = service.deps.clock.now;
  service.deps.clock = { now: () => new Date(realNow().getTime() + clockOffsetMs) };
  tenant = await service.createTenant();
});

afterAll(async () => {
  await service?.stop();
});

interface Session {
  cookie: string;
  setCookie: string;
  csrfToken: string;
  body: Record<string, unknown>;
}

async function signIn(key: string): Promise<Session> {
  const response = await service.call('POST', '/api/v1/console/session', {
    token: null,
    body: { key },
    headers: { origin },
  });
  expect(response.status, response.text).toBe(201);
  const setCookie = response.headers.get('set-cookie') ?? '';
  return {
    cookie: setCookie.split(';')[0]!,
    setCookie,
    csrfToken: response.body.csrfToken,
    body: response.body,
  };
}

const budgetPath = (agentId: string) =>
  `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/budget`;

const newAgent = () =>
  createAgent(service.call, actingAs(tenant, 'admin'), { name: 'Console agent', model: 'gpt-4.1-mini' });

/** A raw HTTP/1.1 request, for headers fetch() will not let a caller set (Host). */
function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const url = new URL(path, service.url);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname, method, headers },
      (incoming) => {
        let text = '';
        incoming.setEncoding('utf8');
        incoming.on('data', (chunk: string) => {
          text += chunk;
        });
        incoming.on('end', () =>
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, text }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

describe('console sessions', () => {
  it('sets an HttpOnly, SameSite=Strict cookie without Secure only on plain-http localhost, and never answers the key', async () => {
    const session = await signIn(tenant.keys.developer);
    expect(session.setCookie).toMatch(/^mcpstack_console=[0-9a-f]{64}; /);
    expect(session.setCookie).toContain('HttpOnly');
    expect(session.setCookie).toContain('SameSite=Strict');
    expect(session.setCookie).not.toContain('Secure');
    const maxAge = Number(/Max-Age=(\d+)/.exec(session.setCookie)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(24 * 60 * 60);
    expect(JSON.stringify(session.body)).not.toContain(tenant.keys.developer);
    expect(session.body).toMatchObject({ organizationId: tenant.organizationId, role: 'developer' });

    // Any other host: Secure, and the __Host- prefix so a subdomain cannot plant one.
    const body = JSON.stringify({ key: tenant.keys.developer });
    const remote = await rawRequest(
      'POST',
      '/api/v1/console/session',
      {
        host: 'console.example.com',
        origin: 'http://console.example.com',
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
      },
      body,
    );
    expect(remote.status, remote.text).toBe(201);
    const remoteCookie = String(remote.headers['set-cookie']);
    expect(remoteCookie).toMatch(/^__Host-mcpstack_console=[0-9a-f]{64}; Path=\/; /);
    expect(remoteCookie).toContain('Secure');
    expect(remoteCookie).toContain('HttpOnly');
    expect(remoteCookie).toContain('SameSite=Strict');
  });

  it('stores only a hash of the session id in Redis', async () => {
    const session = await signIn(tenant.keys.viewer);
    const sessionId = session.cookie.split('=')[1]!;
    const keys = await service.deps.redis.keys(`${service.deps.keys.prefix}console-session:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toContain(sessionId);
      expect(await service.deps.redis.get(key)).not.toContain(sessionId);
      const ttl = await service.deps.redis.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(8 * 60 * 60);
    }
  });

  it('refuses a sign-in posted by another site (login CSRF) or without an Origin', async () => {
    const attempts: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      {},
      { origin, 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of attempts) {
      const response = await service.call('POST', '/api/v1/console/session', {
        token: null,
        body: { key: tenant.keys.admin },
        headers,
      });
      expect(response.status, response.text).toBe(403);
      expect(response.body.error.code).toBe('cross_site_request');
      expect(response.headers.get('set-cookie')).toBeNull();
    }
  });

  it('refuses keys that are not service-account keys: the operator token, a publishable key, garbage', async () => {
    for (const key of [
      adminToken,
      `mcpstack_pk_${'a'.repeat(32)}`,
      `mcpstack_sk_00000000_${'0'.repeat(32)}`,
    ]) {
      const response = await service.call('POST', '/api/v1/console/session', {
        token: null,
        body: { key },
        headers: { origin },
      });
      expect(response.status, response.text).toBe(401);
      expect(response.body.error.code).toBe('invalid_api_key');
    }
  });

  it('reads with the cookie alone, and changes only with the CSRF token from the same origin', async () => {
    const agentId = await newAgent();
    const session = await signIn(tenant.keys.developer);
    const read = await service.call('GET', budgetPath(agentId), {
      token: null,
      headers: { cookie: session.cookie },
    });
    expect(read.status, read.text).toBe(200);

    const patch = (headers: Record<string, string>) =>
      service.call('PATCH', budgetPath(agentId), {
        token: null,
        body: { monthlyBudgetUsd: 42 },
        headers: { cookie: session.cookie, ...headers },
      });

    const attempts: [Record<string, string>, string][] = [
      [{ origin }, 'csrf_token_invalid'],
      [{ origin, 'x-csrf-token': 'f'.repeat(64) }, 'csrf_token_invalid'],
      [{ origin, 'x-csrf-token': session.csrfToken.slice(0, 32) }, 'csrf_token_invalid'],
      [{ 'x-csrf-token': session.csrfToken }, 'cross_site_request'],
      [{ origin: 'https://evil.example', 'x-csrf-token': session.csrfToken }, 'cross_site_request'],
      [{ origin: 'null', 'x-csrf-token': session.csrfToken }, 'cross_site_request'],
      [{ origin, 'x-csrf-token': session.csrfToken, 'sec-fetch-site': 'same-site' }, 'cross_site_request'],
    ];
    for (const [headers, code] of attempts) {
      const response = await patch(headers);
      expect(response.status, `${JSON.stringify(headers)}: ${response.text}`).toBe(403);
      expect(response.body.error.code).toBe(code);
    }
    const unchanged = await service.call('GET', budgetPath(agentId), { token: tenant.keys.admin });
    expect(unchanged.body.monthlyBudgetUsd).toBeNull();

    // Another session's token does not fit this session.
    const other = await signIn(tenant.keys.developer);
    const crossed = await patch({ origin, 'x-csrf-token': other.csrfToken });
    expect(crossed.body.error.code).toBe('csrf_token_invalid');

    const allowed = await patch({
      origin,
      'x-csrf-token': session.csrfToken,
      'sec-fetch-site': 'same-origin',
    });
    expect(allowed.status, allowed.text).toBe(200);
    expect(allowed.body.monthlyBudgetUsd).toBe(42);
  });

  it('holds the role of the key: a viewer session cannot change a budget even with its CSRF token', async () => {
    const agentId = await newAgent();
    const session = await signIn(tenant.keys.viewer);
    const response = await service.call('PATCH', budgetPath(agentId), {
      token: null,
      body: { monthlyBudgetUsd: 1 },
      headers: { cookie: session.cookie, origin, 'x-csrf-token': session.csrfToken },
    });
    expect(response.status, response.text).toBe(403);
    expect(response.body.error.code).toBe('insufficient_permissions');
  });

  it('ends on the very next request once its key is revoked', async () => {
    const created = await service.call('POST', `/api/v1/organizations/${tenant.organizationId}/api-keys`, {
      token: tenant.keys.admin,
      body: { name: 'short-lived', roleKey: 'billing' },
    });
    const session = await signIn(created.body.fullKey);
    const summary = `/api/v1/organizations/${tenant.organizationId}/ai-credits/summary`;
    expect(
      (await service.call('GET', summary, { token: null, headers: { cookie: session.cookie } })).status,
    ).toBe(200);
    const revoked = await service.call(
      'DELETE',
      `/api/v1/organizations/${tenant.organizationId}/api-keys/${created.body.id}`,
      { token: tenant.keys.admin },
    );
    expect(revoked.status, revoked.text).toBe(204);
    const after = await service.call('GET', summary, { token: null, headers: { cookie: session.cookie } });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('session_expired');
    const whoAmI = await service.call('GET', '/api/v1/console/session', {
      token: null,
      headers: { cookie: session.cookie },
    });
    expect(whoAmI.status).toBe(401);
  });

  it('ends after its 24-hour lifetime however active it was', async () => {
    const session = await signIn(tenant.keys.billing);
    const whoAmI = () =>
      service.call('GET', '/api/v1/console/session', { token: null, headers: { cookie: session.cookie } });
    expect((await whoAmI()).status).toBe(200);
    clockOffsetMs = 24 * 60 * 60 * 1000 + 1000;
    try {
      const expired = await whoAmI();
      expect(expired.status).toBe(401);
      expect(expired.body.error.code).toBe('session_expired');
    } finally {
      clockOffsetMs = 0;
    }
    // Deleted, not merely refused: turning the clock back does not revive it.
    expect((await whoAmI()).status).toBe(401);
  });

  it('signs out: DELETE needs the CSRF token, then the cookie is cleared and dead everywhere', async () => {
    const session = await signIn(tenant.keys.admin);
    const withoutToken = await service.call('DELETE', '/api/v1/console/session', {
      token: null,
      headers: { cookie: session.cookie, origin },
    });
    expect(withoutToken.status).toBe(403);
    const signedOut = await service.call('DELETE', '/api/v1/console/session', {
      token: null,
      headers: { cookie: session.cookie, origin, 'x-csrf-token': session.csrfToken },
    });
    expect(signedOut.status, signedOut.text).toBe(204);
    expect(signedOut.headers.get('set-cookie')).toContain('Max-Age=0');
    const after = await service.call('GET', `/api/v1/organizations/${tenant.organizationId}/agents`, {
      token: null,
      headers: { cookie: session.cookie },
    });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('session_expired');
  });

  it('ignores a forged or malformed cookie value', async () => {
    for (const cookie of [
      `mcpstack_console=${'0'.repeat(64)}`,
      'mcpstack_console=../../etc',
      '__Host-mcpstack_console=x',
    ]) {
      const response = await service.call('GET', `/api/v1/organizations/${tenant.organizationId}/agents`, {
        token: null,
        headers: { cookie },
      });
      expect(response.status).toBe(401);
    }
  });

  it('serves the console page with a strict CSP and no inline script', async () => {
    const response = await fetch(`${service.url}/console/`);
    const policy = response.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain('unsafe-inline');
    expect(policy).not.toContain('unsafe-eval');
    // Paths that climb out of dist/ answer the app's page (or 404), never a file outside it.
    for (const path of [
      'assets/..%2f..%2fpackage.json',
      'assets/%2e%2e/%2e%2e/package.json',
      'assets/..%5c..%5cpackage.json',
    ]) {
      const traversal = await fetch(`${service.url}/console/${path}`);
      expect(await traversal.text(), path).not.toContain('"name"');
    }
    expect((await fetch(`${service.url}/console/assets/%E0%A4%A`)).status).toBe(404);
  });
});
