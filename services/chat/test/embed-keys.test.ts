import { actingAs, createAgent } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findEmbedKey,
  isOriginAllowedByAnyKey,
  normalizeOrigin,
  publicKeyPattern,
} from '../src/domain/embed-keys.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

let service: TestService;
let tenant: Tenant;
let other: Tenant;

const agentsPath = (organizationId: string) => `/api/v1/organizations/${organizationId}/agents`;
const keysPath = (agentId: string, organizationId = tenant.organizationId) =>
  `${agentsPath(organizationId)}/${agentId}/embed-keys`;

/** An agent of `target`, made by its developer. */
const newAgent = (target: Tenant = tenant) =>
  createAgent(service.call, actingAs(target, 'developer'), { name: 'Support' });

async function createKey(agentId: string, allowedOrigins: unknown[], name?: string) {
  return service.call('POST', keysPath(agentId), {
    token: tenant.keys.developer,
    body: { allowedOrigins, ...(name !== undefined && { name }) },
  });
}

/** A fresh origin per test: the origin sets are global to the service. */
function uniqueOrigin(): string {
  return `https://site-${crypto.randomUUID().slice(0, 8)}.example`;
}

beforeAll(async () => {
  service = await startTestService();
  tenant = await service.createTenant();
  other = await service.createTenant();
});
afterAll(() => service.stop());

describe('embed keys', () => {
  it('creates a publishable key with the normalized origins and a default name', async () => {
    const agentId = await newAgent();
    const created = await createKey(agentId, ['HTTPS://App.Example.COM.', 'http://localhost:5173/']);
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({
      agentId,
      name: 'Embed key',
      allowedOrigins: ['https://app.example.com', 'http://localhost:5173'],
    });
    expect(created.body.id).toMatch(/^ek_[0-9a-z]{22}$/);
    expect(created.body.publicKey).toMatch(/^mcpstack_pk_[0-9a-f]{32}$/);
    expect(created.body.publicKey).toMatch(publicKeyPattern);
    expect(Object.keys(created.body).sort()).toEqual(
      ['agentId', 'allowedOrigins', 'createdAt', 'id', 'name', 'publicKey'].sort(),
    );
  });

  it('keeps the public key visible in the list, which holds only the agent’s keys', async () => {
    const agentId = await newAgent();
    const otherAgentId = await newAgent();
    const created = await createKey(agentId, [uniqueOrigin()], 'Marketing site');
    await createKey(otherAgentId, [uniqueOrigin()]);
    const listed = await service.call('GET', keysPath(agentId), { token: tenant.keys.viewer });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ data: [created.body], nextCursor: null });
    expect(listed.body.data[0]).toMatchObject({ name: 'Marketing site', publicKey: created.body.publicKey });
  });

  it('pages through an agent’s keys with limit and cursor', async () => {
    const agentId = await newAgent();
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) ids.push((await createKey(agentId, [uniqueOrigin()])).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const result = await service.call('GET', `${keysPath(agentId)}${query}`, { token: tenant.keys.viewer });
      expect(result.status).toBe(200);
      expect(result.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...result.body.data.map((key: { id: string }) => key.id));
      cursor = result.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids);
  });

  describe('origin validation', () => {
    const refused: Array<[string, unknown]> = [
      ['a wildcard subdomain', 'https://*.example.com'],
      ['a bare wildcard', '*'],
      ['null', 'null'],
      ['a path', 'https://a.com/x'],
      ['a path that URL would resolve away', 'https://a.com/x/..'],
      ['a query', 'https://a.com?x=1'],
      ['an empty query', 'https://a.com/?'],
      ['a fragment', 'https://a.com#top'],
      ['credentials', 'https://user:pass@a.com'],
      ['an ftp scheme', 'ftp://a.com'],
      ['no scheme', 'a.com'],
      ['a scheme without slashes', 'https:a.com'],
      ['a port out of range', 'https://a.com:70000'],
      ['an empty label', 'https://a..com'],
      ['braces in the host', 'https://a{b}.com'],
      ['a tab inside', 'https://a.c\tom'],
      ['a percent-escape', 'https://a%2ecom'],
      ['an empty string', ''],
      ['a number', 42],
    ];
    for (const [why, origin] of refused) {
      it(`refuses ${why}, naming the index`, async () => {
        const agentId = await newAgent();
        const result = await createKey(agentId, ['https://ok.example.com', origin]);
        expect(result.status, result.text).toBe(400);
        expect(result.body.error.code).toBe('validation_failed');
        expect(result.body.error.message).toContain('body.allowedOrigins[1]');
        if (typeof origin === 'string') {
          expect(result.body.error.message).toBe(
            'body.allowedOrigins[1]: must be an origin like https://app.example.com (scheme, host and optional port only; no path, wildcard or null)',
          );
        }
      });
    }

    const normalized: Array<[string, string]> = [
      ['https://a.com:443', 'https://a.com'],
      ['http://a.com:80', 'http://a.com'],
      ['https://a.com:8443', 'https://a.com:8443'],
      ['HTTPS://App.Example.COM.', 'https://app.example.com'],
      ['https://bücher.example', 'https://xn--bcher-kva.example'],
      ['https://a.com/', 'https://a.com'],
      ['  https://a.com  ', 'https://a.com'],
      ['http://[::1]:3000', 'http://[::1]:3000'],
      ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ];
    for (const [raw, expected] of normalized) {
      it(`stores ${JSON.stringify(raw)} as ${expected}`, async () => {
        const agentId = await newAgent();
        const result = await createKey(agentId, [raw]);
        expect(result.status, result.text).toBe(201);
        expect(result.body.allowedOrigins).toEqual([expected]);
      });
    }

    it('collapses origins that are duplicates once normalized', async () => {
      const agentId = await newAgent();
      const result = await createKey(agentId, [
        'https://a.com',
        'https://A.com:443/',
        'https://a.com.',
        'https://b.com',
      ]);
      expect(result.status).toBe(201);
      expect(result.body.allowedOrigins).toEqual(['https://a.com', 'https://b.com']);
    });

    it('takes 50 origins and refuses 51 or none', async () => {
      const agentId = await newAgent();
      const origins = Array.from({ length: 51 }, (_, index) => `https://site${index}.example`);
      expect((await createKey(agentId, origins.slice(0, 50))).status).toBe(201);
      const tooMany = await createKey(agentId, origins);
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error.message).toContain('body.allowedOrigins');
      const none = await createKey(agentId, []);
      expect(none.status).toBe(400);
    });

    it('refuses unknown fields and a missing allowedOrigins', async () => {
      const agentId = await newAgent();
      const unknown = await service.call('POST', keysPath(agentId), {
        token: tenant.keys.developer,
        body: { allowedOrigins: ['https://a.com'], origins: [] },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.message).toContain('unknown field "origins"');
      const missing = await service.call('POST', keysPath(agentId), {
        token: tenant.keys.developer,
        body: { name: 'x' },
      });
      expect(missing.status).toBe(400);
      expect(missing.body.error.message).toBe('body.allowedOrigins: is required');
    });

    it('applies the same rule to a browser Origin header through normalizeOrigin', () => {
      expect(normalizeOrigin('https://app.example.com')).toBe('https://app.example.com');
      expect(normalizeOrigin('https://xn--bcher-kva.example')).toBe('https://xn--bcher-kva.example');
      expect(normalizeOrigin('null')).toBeNull();
      expect(normalizeOrigin('file://')).toBeNull();
      expect(normalizeOrigin('chrome-extension://abcdef')).toBeNull();
      expect(normalizeOrigin(' https://a.com')).toBeNull();
    });
  });

  describe('the chat API’s lookups', () => {
    it('finds a live key in one lookup and nothing for a malformed or unknown key', async () => {
      const agentId = await newAgent();
      const origin = uniqueOrigin();
      const created = await createKey(agentId, [origin]);
      expect(await findEmbedKey(service.deps, created.body.publicKey)).toEqual({
        id: created.body.id,
        organizationId: tenant.organizationId,
        agentId,
        allowedOrigins: [origin],
      });
      expect(await findEmbedKey(service.deps, `mcpstack_pk_${'0'.repeat(32)}`)).toBeNull();
      expect(await findEmbedKey(service.deps, created.body.publicKey.toUpperCase())).toBeNull();
      expect(await isOriginAllowedByAnyKey(service.deps, origin)).toBe(true);
      expect(await isOriginAllowedByAnyKey(service.deps, uniqueOrigin())).toBe(false);
    });

    it('forgets a revoked key at once, and its origin when no other key allows it', async () => {
      const agentId = await newAgent();
      const shared = uniqueOrigin();
      const only = uniqueOrigin();
      const first = await createKey(agentId, [shared, only]);
      const second = await createKey(agentId, [shared]);

      const revoked = await service.call('DELETE', `${keysPath(agentId)}/${first.body.id}`, {
        token: tenant.keys.developer,
      });
      expect(revoked.status).toBe(204);
      expect(revoked.text).toBe('');
      expect(await findEmbedKey(service.deps, first.body.publicKey)).toBeNull();
      expect(await findEmbedKey(service.deps, second.body.publicKey)).not.toBeNull();
      expect(await isOriginAllowedByAnyKey(service.deps, only)).toBe(false);
      expect(await isOriginAllowedByAnyKey(service.deps, shared)).toBe(true);

      const listed = await service.call('GET', keysPath(agentId), { token: tenant.keys.viewer });
      expect(listed.body.data.map((key: { id: string }) => key.id)).toEqual([second.body.id]);

      const again = await service.call('DELETE', `${keysPath(agentId)}/${first.body.id}`, {
        token: tenant.keys.developer,
      });
      expect(again.status).toBe(404);
      expect(again.body.error.code).toBe('embed_key_not_found');

      await service.call('DELETE', `${keysPath(agentId)}/${second.body.id}`, {
        token: tenant.keys.developer,
      });
      expect(await isOriginAllowedByAnyKey(service.deps, shared)).toBe(false);
    });

    it('revokes every key of an agent when the agent is deleted', async () => {
      const agentId = await newAgent();
      const keptAgentId = await newAgent();
      const origin = uniqueOrigin();
      const first = await createKey(agentId, [origin]);
      const second = await createKey(agentId, [uniqueOrigin()]);
      const kept = await createKey(keptAgentId, [uniqueOrigin()]);

      const deleted = await service.call('DELETE', `${agentsPath(tenant.organizationId)}/${agentId}`, {
        token: tenant.keys.developer,
      });
      expect(deleted.status).toBe(204);
      expect(await findEmbedKey(service.deps, first.body.publicKey)).toBeNull();
      expect(await findEmbedKey(service.deps, second.body.publicKey)).toBeNull();
      expect(await isOriginAllowedByAnyKey(service.deps, origin)).toBe(false);
      expect(await findEmbedKey(service.deps, kept.body.publicKey)).not.toBeNull();
      expect(await service.deps.stores.embedKeys.get(tenant.organizationId, first.body.id)).toBeNull();

      const listed = await service.call('GET', keysPath(agentId), { token: tenant.keys.viewer });
      expect(listed.status).toBe(404);
      expect(listed.body.error.code).toBe('agent_not_found');
    });

    it('removes the lookups and origin memberships when the organization is deleted', async () => {
      const doomed = await service.createTenant();
      const agentId = await newAgent(doomed);
      const origin = uniqueOrigin();
      const created = await service.call('POST', keysPath(agentId, doomed.organizationId), {
        token: doomed.keys.admin,
        body: { allowedOrigins: [origin] },
      });
      expect(created.status).toBe(201);
      expect(await findEmbedKey(service.deps, created.body.publicKey)).not.toBeNull();

      const deleted = await service.call('DELETE', `/api/v1/organizations/${doomed.organizationId}`, {
        token: doomed.keys.admin,
      });
      expect(deleted.status, deleted.text).toBe(204);
      expect(await findEmbedKey(service.deps, created.body.publicKey)).toBeNull();
      expect(await isOriginAllowedByAnyKey(service.deps, origin)).toBe(false);
      expect(await service.deps.redis.exists(service.deps.keys.embedKeyLookup(created.body.publicKey))).toBe(
        0,
      );
    });
  });

  describe('access', () => {
    it('lets a viewer list but not create or revoke; a developer may', async () => {
      const agentId = await newAgent();
      const refused = await service.call('POST', keysPath(agentId), {
        token: tenant.keys.viewer,
        body: { allowedOrigins: ['https://a.com'] },
      });
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('insufficient_permissions');

      const created = await createKey(agentId, ['https://a.com']);
      expect(created.status).toBe(201);
      const revokeByViewer = await service.call('DELETE', `${keysPath(agentId)}/${created.body.id}`, {
        token: tenant.keys.viewer,
      });
      expect(revokeByViewer.status).toBe(403);
      expect((await service.call('GET', keysPath(agentId), { token: tenant.keys.viewer })).status).toBe(200);
      const billing = await service.call('GET', keysPath(agentId), { token: tenant.keys.billing });
      expect(billing.status).toBe(403);
    });

    it('answers 404 agent_not_found for an unknown agent', async () => {
      const result = await createKey('agent_does_not_exist', ['https://a.com']);
      expect(result.status).toBe(404);
      expect(result.body.error.code).toBe('agent_not_found');
    });

    it('hides another organization’s agent and key behind 404s', async () => {
      const foreignAgentId = await newAgent(other);
      const foreignKey = await service.call('POST', keysPath(foreignAgentId, other.organizationId), {
        token: other.keys.developer,
        body: { allowedOrigins: ['https://foreign.example'] },
      });
      expect(foreignKey.status).toBe(201);

      const list = await service.call('GET', keysPath(foreignAgentId), { token: tenant.keys.admin });
      expect(list.status).toBe(404);
      expect(list.body.error.code).toBe('agent_not_found');
      const revoke = await service.call('DELETE', `${keysPath(foreignAgentId)}/${foreignKey.body.id}`, {
        token: tenant.keys.admin,
      });
      expect(revoke.status).toBe(404);

      // Through one's own agent, the foreign key id is just unknown.
      const ownAgentId = await newAgent();
      const viaOwn = await service.call('DELETE', `${keysPath(ownAgentId)}/${foreignKey.body.id}`, {
        token: tenant.keys.admin,
      });
      expect(viaOwn.status).toBe(404);
      expect(viaOwn.body.error.code).toBe('embed_key_not_found');

      const crossOrg = await service.call('GET', keysPath(foreignAgentId, other.organizationId), {
        token: tenant.keys.admin,
      });
      expect(crossOrg.status).toBe(404);
      expect(crossOrg.body.error.code).toBe('organization_not_found');
      expect(await findEmbedKey(service.deps, foreignKey.body.publicKey)).not.toBeNull();
    });

    it('answers 404 embed_key_not_found for a key of another agent of the same organization', async () => {
      const agentId = await newAgent();
      const siblingId = await newAgent();
      const created = await createKey(siblingId, ['https://a.com']);
      const result = await service.call('DELETE', `${keysPath(agentId)}/${created.body.id}`, {
        token: tenant.keys.developer,
      });
      expect(result.status).toBe(404);
      expect(result.body.error.code).toBe('embed_key_not_found');
      expect(await findEmbedKey(service.deps, created.body.publicKey)).not.toBeNull();
    });

    it('documents the routes in the OpenAPI document', async () => {
      const document = await service.call('GET', '/api/v1/openapi.json', { token: null });
      const path = document.body.paths['/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys'];
      expect(path.post['x-required-permission']).toBe('agents:manage');
      expect(path.get['x-required-permission']).toBe('agents:read');
      const body = path.post.requestBody.content['application/json'].schema;
      expect(body.required).toEqual(['allowedOrigins']);
      expect(body.properties.allowedOrigins.maxItems).toBe(50);
    });
  });
});
