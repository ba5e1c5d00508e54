import { actingAs, createAgent, createChatAgent } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeDomain } from '../src/domain/verified-domains.ts';
import { startTestDnsServer, type TestDnsServer } from './support/dns-server.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

let dns: TestDnsServer;
let service: TestService;
let tenant: Tenant;
let agentId: string;

const base = () => `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}`;

beforeAll(async () => {
  dns = await startTestDnsServer();
  service = await startTestService({
    MCPSTACK_DNS_SERVERS: dns.address,
    MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'true',
  });
  tenant = await service.createTenant();
  agentId = await createAgent(service.call, actingAs(tenant, 'admin'), {
    name: 'Verified',
    model: 'gpt-4.1-mini',
  });
});
afterAll(async () => {
  await service?.stop();
  await dns?.stop();
});

async function add(domain: string) {
  const added = await service.call('POST', `${base()}/verified-domains`, {
    token: tenant.keys.developer,
    body: { domain },
  });
  expect(added.status, added.text).toBe(201);
  return added.body;
}
const confirm = (id: string) =>
  service.call('POST', `${base()}/verified-domains/${id}/confirm`, { token: tenant.keys.developer });

describe('verified domains', () => {
  it('normalizes domains: case, trailing dot, IDN to punycode; refuses what is not a domain', () => {
    expect(normalizeDomain('Example.COM.')).toBe('example.com');
    expect(normalizeDomain('bücher.example')).toBe('xn--bcher-kva.example');
    for (const bad of [
      'localhost',
      '127.0.0.1',
      'https://example.com',
      'example.com/x',
      '*.example.com',
      'com',
      '',
    ]) {
      expect(normalizeDomain(bad), bad).toBeNull();
    }
  });

  it('hands out the TXT record to publish, and verifies it over DNS', async () => {
    const domain = await add('Shop.Example.');
    expect(domain).toMatchObject({
      domain: 'shop.example',
      status: 'pending',
      dnsRecord: { type: 'TXT', name: '_mcpstack-verify.shop.example' },
    });
    expect(domain.dnsRecord.value).toMatch(/^mcpstack-verify=[0-9a-f]{32}$/);
    dns.records.set('_mcpstack-verify.shop.example', [['unrelated=1'], [domain.dnsRecord.value]]);
    const confirmed = await confirm(domain.id);
    expect(confirmed.status, confirmed.text).toBe(200);
    expect(confirmed.body).toMatchObject({ status: 'verified', verifiedAt: expect.any(String) });
    expect(dns.queries).toContain('_mcpstack-verify.shop.example');
  });

  it('says what it found when the token is wrong', async () => {
    const domain = await add('wrong-token.example');
    dns.records.set('_mcpstack-verify.wrong-token.example', [['mcpstack-verify=0000']]);
    const result = await confirm(domain.id);
    expect(result.status).toBe(409);
    expect(result.body.error).toMatchObject({
      code: 'domain_verification_failed',
      found: ['mcpstack-verify=0000'],
      expected: domain.dnsRecord,
    });
    expect(result.body.error.message).toContain('none equal');
  });

  it('says the record is missing, then verifies once it appears', async () => {
    const domain = await add('later.example');
    const missing = await confirm(domain.id);
    expect(missing.status).toBe(409);
    expect(missing.body.error.message).toContain('No TXT record');
    expect(missing.body.error.found).toEqual([]);
    dns.records.set('_mcpstack-verify.later.example', [[domain.dnsRecord.value]]);
    expect((await confirm(domain.id)).status).toBe(200);
  });

  it('joins the strings of a TXT record split into several', async () => {
    const domain = await add('split.example');
    const value: string = domain.dnsRecord.value;
    dns.records.set('_mcpstack-verify.split.example', [[value.slice(0, 10), value.slice(10)]]);
    expect((await confirm(domain.id)).status).toBe(200);
  });

  it('refuses duplicates, bad domains, other roles and other organizations', async () => {
    await add('dup.example');
    const duplicate = await service.call('POST', `${base()}/verified-domains`, {
      token: tenant.keys.admin,
      body: { domain: 'DUP.example.' },
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error.code).toBe('domain_exists');
    const bad = await service.call('POST', `${base()}/verified-domains`, {
      token: tenant.keys.admin,
      body: { domain: 'https://x.example/path' },
    });
    expect(bad.status).toBe(400);
    const viewer = await service.call('POST', `${base()}/verified-domains`, {
      token: tenant.keys.viewer,
      body: { domain: 'v.example' },
    });
    expect(viewer.status).toBe(403);
    const other = await service.createTenant();
    const foreign = await service.call('GET', `${base()}/verified-domains`, { token: other.keys.admin });
    expect(foreign.status).toBe(404);
  });

  it('requires embed origins on a verified domain (https; subdomains count)', async () => {
    const create = (allowedOrigins: string[]) =>
      service.call('POST', `${base()}/embed-keys`, { token: tenant.keys.admin, body: { allowedOrigins } });
    expect((await create(['https://shop.example', 'https://app.shop.example'])).status).toBe(201);
    for (const origin of [
      'http://shop.example',
      'https://later-not-added.example',
      'https://shop.example.evil.com',
      'https://evilshop.example',
      'http://localhost:3000',
      'https://dup.example', // added, never confirmed
    ]) {
      const refused = await create([origin]);
      expect(refused.status, origin).toBe(400);
      expect(refused.body.error.code).toBe('origin_not_verified');
    }
  });

  it('stops the origins of a removed domain on the next request', async () => {
    const domain = await add('removed.example');
    dns.records.set('_mcpstack-verify.removed.example', [[domain.dnsRecord.value]]);
    await confirm(domain.id);
    const key = await service.call('POST', `${base()}/embed-keys`, {
      token: tenant.keys.admin,
      body: { allowedOrigins: ['https://removed.example'] },
    });
    const config = () =>
      fetch(`${service.url}/api/v1/chat/config`, {
        headers: { authorization: `Bearer ${key.body.publicKey}`, origin: 'https://removed.example' },
      });
    expect((await config()).status).toBe(200);
    const removed = await service.call('DELETE', `${base()}/verified-domains/${domain.id}`, {
      token: tenant.keys.admin,
    });
    expect(removed.status).toBe(204);
    const after = await config();
    expect(after.status).toBe(403);
    expect(((await after.json()) as { error: { code: string } }).error.code).toBe('origin_not_allowed');
    // The same on an anonymous turn, whose admission is one script (chat-admit.lua).
    const turn = await fetch(`${service.url}/api/v1/chat`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key.body.publicKey}`,
        origin: 'https://removed.example',
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        id: 'conv-removed-domain',
        messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hello' }] }],
        visitorId: 'visitor-removed-domain',
      }),
    });
    expect(turn.status).toBe(403);
    expect(((await turn.json()) as { error: { code: string } }).error.code).toBe('origin_not_allowed');
  });

  it('allows local origins only with MCPSTACK_ALLOW_LOCALHOST_ORIGINS', async () => {
    const local = await startTestService({
      MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'true',
      MCPSTACK_ALLOW_LOCALHOST_ORIGINS: 'true',
    });
    try {
      const org = await local.createTenant();
      const agent = await createChatAgent(local.call, actingAs(org, 'admin'), {
        agent: { name: 'Local', model: 'gpt-4.1-mini' },
        embedKey: { allowedOrigins: ['http://localhost:5173', 'http://127.0.0.1:8080'] },
      });
      expect(agent.publicKey).toMatch(/^mcpstack_pk_/);
    } finally {
      await local.stop();
    }
  });
});
