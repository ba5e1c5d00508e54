import { actingAs, createAgent } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, startTestService, type TestService, uniqueSlug } from './support/harness.ts';

let service: TestService;
beforeAll(async () => {
  service = await startTestService();
});
afterAll(() => service.stop());

describe('organizations', () => {
  it('lets the operator create an organization and its first key', async () => {
    const slug = uniqueSlug('acme');
    const created = await service.call('POST', '/api/v1/organizations', { body: { name: 'Acme', slug } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      slug,
      name: 'Acme',
      planTier: 'free',
      agentCount: 0,
      mcpServerCount: 0,
      apiKeyCount: 0,
    });
    expect(created.body.id).toMatch(/^org_/);
    expect(Date.parse(created.body.createdOn)).not.toBeNaN();

    const key = await service.call('POST', `/api/v1/organizations/${created.body.id}/api-keys`, {
      body: { name: 'first-admin', roleKey: 'admin' },
    });
    expect(key.status).toBe(201);
    const got = await service.call('GET', `/api/v1/organizations/${created.body.id}`, {
      token: key.body.fullKey,
    });
    expect(got.status).toBe(200);
    expect(got.body.apiKeyCount).toBe(1);
  });

  it('refuses a duplicate slug with 409 slug_taken', async () => {
    const slug = uniqueSlug('dup');
    expect(
      (await service.call('POST', '/api/v1/organizations', { body: { name: 'One', slug } })).status,
    ).toBe(201);
    const again = await service.call('POST', '/api/v1/organizations', { body: { name: 'Two', slug } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('slug_taken');
  });

  it('gives exactly one organization the slug when many race for it', async () => {
    const slug = uniqueSlug('race');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        service.call('POST', '/api/v1/organizations', { body: { name: `Racer ${index}`, slug } }),
      ),
    );
    expect(results.filter((result) => result.status === 201)).toHaveLength(1);
    expect(results.filter((result) => result.status === 409)).toHaveLength(19);
  });

  it('validates the slug', async () => {
    for (const slug of ['UPPER', '-lead', 'trail-', 'sp ace', '', 'a'.repeat(65)]) {
      const result = await service.call('POST', '/api/v1/organizations', { body: { name: 'x', slug } });
      expect(result.status, slug).toBe(400);
      expect(result.body.error.code).toBe('validation_failed');
      expect(result.body.error.message).toContain('body.slug');
    }
  });

  it('lists every organization to the operator, page by page', async () => {
    const first = await service.call('GET', '/api/v1/organizations?limit=1');
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(1);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await service.call('GET', `/api/v1/organizations?limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body.data[0].id).not.toBe(first.body.data[0].id);
  });

  it('renames an organization and moves its slug', async () => {
    const tenant = await service.createTenant();
    const newSlug = uniqueSlug('renamed');
    const patched = await service.call('PATCH', `/api/v1/organizations/${tenant.organizationId}`, {
      token: tenant.keys.admin,
      body: { name: 'Renamed', slug: newSlug },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Renamed', slug: newSlug });
    // the old slug is free again
    const reuse = await service.call('POST', '/api/v1/organizations', {
      body: { name: 'Reuse', slug: tenant.slug },
    });
    expect(reuse.status).toBe(201);
  });

  it('deletes an organization: it is gone, its keys stop working, its data is purged', async () => {
    const tenant = await service.createTenant();
    await createAgent(service.call, actingAs(tenant, 'admin'), { name: 'Doomed' });
    const deleted = await service.call('DELETE', `/api/v1/organizations/${tenant.organizationId}`, {
      token: tenant.keys.admin,
    });
    expect(deleted.status).toBe(204);
    expect((await service.call('GET', `/api/v1/organizations/${tenant.organizationId}`)).status).toBe(404);
    const stale = await service.call('GET', '/api/v1/cli/whoami', { token: tenant.keys.viewer });
    expect(stale.status).toBe(401);
    const left = await service.deps.redis.keys(`${service.deps.keys.prefix}{${tenant.organizationId}}*`);
    expect(left).toEqual([]);
  });

  it('tells the caller who it is', async () => {
    const operator = await service.call('GET', '/api/v1/cli/whoami', { token: adminToken });
    expect(operator.body).toMatchObject({ type: 'operator', organizationId: null });
    const tenant = await service.createTenant();
    const billing = await service.call('GET', '/api/v1/cli/whoami', { token: tenant.keys.billing });
    expect(billing.body).toMatchObject({
      type: 'service_account',
      roleKey: 'billing',
      roleName: 'Billing',
      organizationId: tenant.organizationId,
    });
    expect(billing.body.permissions).toEqual([
      'organization:read',
      'usage:read',
      'billing:read',
      'billing:manage',
    ]);
  });

  it('checks permissions for the caller', async () => {
    const tenant = await service.createTenant();
    const result = await service.call(
      'POST',
      `/api/v1/organizations/${tenant.organizationId}/authorization/check`,
      {
        token: tenant.keys.viewer,
        body: { permissions: ['agents:read', 'agents:manage'] },
      },
    );
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      allowed: false,
      roleKey: 'viewer',
      results: [
        { permission: 'agents:read', allowed: true },
        { permission: 'agents:manage', allowed: false },
      ],
    });
    const unknown = await service.call(
      'POST',
      `/api/v1/organizations/${tenant.organizationId}/authorization/check`,
      {
        token: tenant.keys.viewer,
        body: { permissions: ['root:everything'] },
      },
    );
    expect(unknown.status).toBe(400);
  });
});
