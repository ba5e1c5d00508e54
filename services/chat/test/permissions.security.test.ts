import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../src/app.ts';
import { adminToken, startTestService, type Tenant, type TestService } from './support/harness.ts';

/**
 * Written independently of src/domain/auth/permissions.ts on purpose: this is the SPEC's table,
 * and the code must agree with it route by route.
 */
const expectedGrants: Record<
  string,
  ReadonlyArray<'admin' | 'developer' | 'viewer' | 'billing' | 'operator'>
> = {
  'organization:read': ['admin', 'developer', 'viewer', 'billing', 'operator'],
  'organization:manage': ['admin', 'operator'],
  'agents:read': ['admin', 'developer', 'viewer'],
  'agents:manage': ['admin', 'developer'],
  'usage:read': ['admin', 'developer', 'viewer', 'billing'],
  'billing:read': ['admin', 'developer', 'billing'],
  'billing:manage': ['admin', 'billing'],
  'billing:adjust': ['admin'],
  'keys:manage': ['admin', 'operator'],
};

const callers = ['admin', 'developer', 'viewer', 'billing', 'operator'] as const;

function fillPath(path: string, organizationId: string): string {
  return path
    .replace('{orgId}', organizationId)
    .replace(/\{(\w+)\}/g, (_, name: string) => `${name}_does_not_exist`);
}

let service: TestService;
let tenant: Tenant;
let other: Tenant;

beforeAll(async () => {
  service = await startTestService();
  tenant = await service.createTenant();
  other = await service.createTenant();
});
afterAll(() => service.stop());

const orgRoutes = apiRoutes.filter((route) => route.path.includes('{orgId}'));

describe('every organization route × every role', () => {
  it('covers every route that takes an organization', () => {
    expect(orgRoutes.length).toBeGreaterThan(15);
    for (const route of orgRoutes) {
      if (route.operationId === 'checkAuthorization') continue;
      expect(route.permission, `${route.operationId} names its permission`).toBeDefined();
      expect(expectedGrants[route.permission!], `${route.permission} is in the SPEC table`).toBeDefined();
    }
  });

  for (const route of orgRoutes) {
    for (const caller of callers) {
      const allowed = route.permission === undefined || expectedGrants[route.permission]!.includes(caller);
      it(`${allowed ? 'lets' : 'refuses'} ${caller} ${route.method.toUpperCase()} ${route.path}`, async () => {
        // Deleting the organization is the one call that would break the shared tenant.
        const target =
          route.operationId === 'deleteOrganization' && allowed ? await service.createTenant() : tenant;
        const token = caller === 'operator' ? adminToken : target.keys[caller];
        const result = await service.call(
          route.method.toUpperCase(),
          fillPath(route.path, target.organizationId),
          {
            token,
            ...(route.body ? { body: {} } : {}),
          },
        );
        if (allowed) {
          expect([401, 403], `${result.status} ${result.text}`).not.toContain(result.status);
          expect(result.status).toBeLessThan(500);
        } else {
          expect(result.status, result.text).toBe(403);
          expect(result.body.error.code).toBe('insufficient_permissions');
        }
      });
    }
  }
});

describe('cross-organization isolation', () => {
  for (const route of orgRoutes) {
    it(`answers 404 to another organization's admin on ${route.method.toUpperCase()} ${route.path}`, async () => {
      const result = await service.call(
        route.method.toUpperCase(),
        fillPath(route.path, tenant.organizationId),
        {
          token: other.keys.admin,
          ...(route.body ? { body: {} } : {}),
        },
      );
      expect(result.status, result.text).toBe(404);
      expect(result.body.error.code).toBe('organization_not_found');
    });
  }

  it('does not show another organization’s agent even by its id through one’s own organization', async () => {
    const created = await service.call('POST', `/api/v1/organizations/${tenant.organizationId}/agents`, {
      token: tenant.keys.developer,
      body: { name: 'Private' },
    });
    expect(created.status).toBe(201);
    const peek = await service.call(
      'GET',
      `/api/v1/organizations/${other.organizationId}/agents/${created.body.id}`,
      {
        token: other.keys.admin,
      },
    );
    expect(peek.status).toBe(404);
    expect(peek.body.error.code).toBe('agent_not_found');
  });

  it('lists only the caller’s own organization to a service-account key', async () => {
    const result = await service.call('GET', '/api/v1/organizations', { token: tenant.keys.viewer });
    expect(result.status).toBe(200);
    expect(result.body.data.map((organization: { id: string }) => organization.id)).toEqual([
      tenant.organizationId,
    ]);
  });
});

describe('authentication', () => {
  const path = () => `/api/v1/organizations/${tenant.organizationId}/agents`;

  it('answers 401 unauthenticated without a credential', async () => {
    const result = await service.call('GET', path(), { token: null });
    expect(result.status).toBe(401);
    expect(result.body.error.code).toBe('unauthenticated');
  });

  it('answers 401 to a malformed Authorization header', async () => {
    const result = await service.call('GET', path(), {
      token: null,
      headers: { authorization: `Basic ${btoa('a:b')}` },
    });
    expect(result.status).toBe(401);
    expect(result.body.error.code).toBe('unauthenticated');
  });

  it('accepts the key in X-API-Key as well as Bearer', async () => {
    const result = await service.call('GET', path(), {
      token: null,
      headers: { 'x-api-key': tenant.keys.viewer },
    });
    expect(result.status).toBe(200);
  });

  it('refuses a key whose secret part was altered', async () => {
    const key = tenant.keys.admin;
    const forged = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`;
    const result = await service.call('GET', path(), { token: forged });
    expect(result.status).toBe(401);
    expect(result.body.error.code).toBe('invalid_api_key');
  });

  it('refuses a made-up key of the right shape', async () => {
    const result = await service.call('GET', path(), { token: `mcpstack_sk_deadbeef_${'0'.repeat(32)}` });
    expect(result.status).toBe(401);
  });

  it('refuses a publishable key on the management API and says where it belongs', async () => {
    const result = await service.call('GET', path(), { token: `mcpstack_pk_${'a'.repeat(32)}` });
    expect(result.status).toBe(401);
    expect(result.body.error.message).toMatch(/chat API/);
  });

  it('refuses a wrong operator token', async () => {
    const result = await service.call('POST', '/api/v1/organizations', {
      token: `${adminToken}x`,
      body: { name: 'x', slug: 'x' },
    });
    expect(result.status).toBe(401);
  });

  it('answers 403 when a service-account admin tries an operator-only call', async () => {
    const result = await service.call('POST', '/api/v1/organizations', {
      token: tenant.keys.admin,
      body: { name: 'x', slug: 'x-admin' },
    });
    expect(result.status).toBe(403);
    expect(result.body.error.code).toBe('insufficient_permissions');
  });

  it('does not let the operator read an organization’s agents (it is not a member)', async () => {
    const result = await service.call('GET', path(), { token: adminToken });
    expect(result.status).toBe(403);
  });
});
