import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

let service: TestService;
let tenant: Tenant;
/** The real time, moved forward by `ahead` ms: the expiry test moves it instead of sleeping. */
const clock = { ahead: 0, now: () => new Date(Date.now() + clock.ahead) };
const keysPath = () => `/api/v1/organizations/${tenant.organizationId}/api-keys`;

beforeAll(async () => {
  service = await startTestService({}, { clock });
  tenant = await service.createTenant();
});
afterAll(() => service.stop());

describe('service-account keys', () => {
  it('returns the full key once, in the reference format, and never again', async () => {
    const created = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'ci-bot', roleKey: 'developer' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'ci-bot',
      roleKey: 'developer',
      roleName: 'Developer',
      expiresAt: null,
    });
    expect(created.body.id).toMatch(/^key_/);
    expect(created.body.fullKey).toMatch(/^mcpstack_sk_[0-9a-f]{8}_[0-9a-f]{32}$/);
    expect(created.body.fullKey.startsWith(`${created.body.clientId}_`)).toBe(true);

    const listed = await service.call('GET', keysPath(), { token: tenant.keys.admin });
    expect(listed.status).toBe(200);
    expect(listed.text).not.toContain(created.body.fullKey.split('_').at(-1));
    expect(listed.body.data.find((key: { id: string }) => key.id === created.body.id)).not.toHaveProperty(
      'fullKey',
    );
  });

  it('stores only a hash of the secret', async () => {
    const created = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'hash-check' },
    });
    const secret = created.body.fullKey.split('_').at(-1) as string;
    const keys = await service.deps.redis.keys(`${service.deps.keys.prefix}*`);
    for (const key of keys) {
      const type = await service.deps.redis.type(key);
      const dump =
        type === 'string'
          ? await service.deps.redis.get(key)
          : JSON.stringify(await service.deps.redis.hgetall(key).catch(() => ({})));
      expect(dump ?? '').not.toContain(secret);
    }
  });

  it('defaults the role to viewer', async () => {
    const created = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'default-role' },
    });
    expect(created.body.roleKey).toBe('viewer');
    const whoami = await service.call('GET', '/api/v1/cli/whoami', { token: created.body.fullKey });
    expect(whoami.body).toMatchObject({
      type: 'service_account',
      roleKey: 'viewer',
      organizationId: tenant.organizationId,
    });
  });

  it('takes the role as `role` (the reference field) or `roleKey`, and refuses both disagreeing', async () => {
    const byRole = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'automation-bot', role: 'developer' },
    });
    expect(byRole.status).toBe(201);
    expect(byRole.body).toMatchObject({ role: 'developer', roleKey: 'developer' });
    const both = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'x', role: 'admin', roleKey: 'viewer' },
    });
    expect(both.status).toBe(400);
    expect(both.body.error.code).toBe('validation_failed');
  });

  it('fails a revoked key on its very next request', async () => {
    const created = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'short-lived', roleKey: 'viewer' },
    });
    const before = await service.call('GET', '/api/v1/cli/whoami', { token: created.body.fullKey });
    expect(before.status).toBe(200);
    const revoked = await service.call('DELETE', `${keysPath()}/${created.body.id}`, {
      token: tenant.keys.admin,
    });
    expect(revoked.status).toBe(204);
    const after = await service.call('GET', '/api/v1/cli/whoami', { token: created.body.fullKey });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('invalid_api_key');
    const again = await service.call('DELETE', `${keysPath()}/${created.body.id}`, {
      token: tenant.keys.admin,
    });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('api_key_not_found');
  });

  it('stops accepting a key after its expiry', async () => {
    // A minute ahead: however loaded the machine, the key is still valid for the first request.
    const soon = new Date(Date.now() + 60_000).toISOString();
    const created = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'expiring', expiresAt: soon },
    });
    expect(created.status).toBe(201);
    expect((await service.call('GET', '/api/v1/cli/whoami', { token: created.body.fullKey })).status).toBe(
      200,
    );
    clock.ahead = 60_001;
    try {
      const expired = await service.call('GET', '/api/v1/cli/whoami', { token: created.body.fullKey });
      expect(expired.status).toBe(401);
      expect(expired.body.error.code).toBe('invalid_api_key');
    } finally {
      clock.ahead = 0;
    }
  });

  it('refuses an expiry in the past and an unknown role', async () => {
    const past = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'x', expiresAt: '2001-01-01T00:00:00Z' },
    });
    expect(past.status).toBe(400);
    expect(past.body.error.message).toContain('expiresAt');
    const role = await service.call('POST', keysPath(), {
      token: tenant.keys.admin,
      body: { name: 'x', roleKey: 'owner' },
    });
    expect(role.status).toBe(400);
    expect(role.body.error.message).toContain('body.roleKey');
  });

  it('lists the assignable roles with their permissions', async () => {
    const result = await service.call('GET', `${keysPath()}/roles`, { token: tenant.keys.viewer });
    expect(result.status).toBe(200);
    expect(result.body.data.map((role: { key: string }) => role.key)).toEqual([
      'admin',
      'developer',
      'viewer',
      'billing',
    ]);
    const billing = result.body.data.find((role: { key: string }) => role.key === 'billing');
    expect(billing.permissions).toContain('billing:manage');
    expect(billing.permissions).not.toContain('agents:read');
  });

  it('pages through keys with limit and cursor', async () => {
    for (let index = 0; index < 3; index++) {
      await service.call('POST', keysPath(), { token: tenant.keys.admin, body: { name: `page-${index}` } });
    }
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const result = await service.call('GET', `${keysPath()}${query}`, { token: tenant.keys.admin });
      expect(result.status).toBe(200);
      expect(result.body.data.length).toBeLessThanOrEqual(2);
      for (const key of result.body.data) {
        expect(seen.has(key.id)).toBe(false);
        seen.add(key.id);
      }
      cursor = result.body.nextCursor;
      pages++;
    } while (cursor);
    const all = await service.call('GET', `${keysPath()}?limit=500`, { token: tenant.keys.admin });
    expect(seen.size).toBe(all.body.data.length);
    expect(pages).toBeGreaterThan(1);
  });
});
