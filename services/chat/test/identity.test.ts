import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { actingAs, createAgent } from '@mcpstack/test-support/tenants';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyUserToken } from '../src/domain/identity/verify-token.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

let service: TestService;
let tenant: Tenant;
let other: Tenant;

const agentsPath = (organizationId: string) => `/api/v1/organizations/${organizationId}/agents`;
const identityPath = (agentId: string, organizationId = tenant.organizationId) =>
  `${agentsPath(organizationId)}/${agentId}/identity`;
const secretPath = (agentId: string, organizationId = tenant.organizationId) =>
  `${agentsPath(organizationId)}/${agentId}/identity-secret`;

/** An agent of `target`, made by its developer. */
const newAgent = (target: Tenant = tenant) =>
  createAgent(service.call, actingAs(target, 'developer'), { name: 'Support' });

async function rotate(agentId: string): Promise<string> {
  const rotated = await service.call('POST', secretPath(agentId), { token: tenant.keys.developer });
  expect(rotated.status, rotated.text).toBe(201);
  return rotated.body.secret;
}

async function register(agentId: string, body: Record<string, unknown>) {
  return service.call('PUT', identityPath(agentId), { token: tenant.keys.developer, body });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Valid claims for the agent; a test overrides one (undefined drops the claim). */
function claims(agentId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: 'user-42', aud: agentId, iat: nowSeconds(), exp: nowSeconds() + 600, ...overrides };
}

function sign(
  payload: Record<string, unknown>,
  key: CryptoKey | Uint8Array,
  header: { alg: string; kid?: string },
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const base64url = (text: string) => Buffer.from(text).toString('base64url');

function verify(agentId: string, token: string, organizationId = tenant.organizationId) {
  return verifyUserToken(service.deps, organizationId, agentId, token);
}

beforeAll(async () => {
  service = await startTestService();
  tenant = await service.createTenant();
  other = await service.createTenant();
});
afterAll(() => service.stop());

describe('the HS256 identity secret', () => {
  it('issues a secret once, which GET never shows', async () => {
    const agentId = await newAgent();
    const before = await service.call('GET', identityPath(agentId), { token: tenant.keys.viewer });
    expect(before.status).toBe(200);
    expect(before.body).toEqual({
      hs256SecretSet: false,
      hs256SecretCreatedAt: null,
      publicKey: null,
      jwksUrl: null,
      algorithms: [],
    });

    const rotated = await service.call('POST', secretPath(agentId), { token: tenant.keys.developer });
    expect(rotated.status, rotated.text).toBe(201);
    expect(Object.keys(rotated.body).sort()).toEqual(['createdAt', 'secret']);
    expect(rotated.body.secret).toMatch(/^mcpstack_is_[A-Za-z0-9_-]{43}$/);

    const after = await service.call('GET', identityPath(agentId), { token: tenant.keys.viewer });
    expect(after.body).toEqual({
      hs256SecretSet: true,
      hs256SecretCreatedAt: rotated.body.createdAt,
      publicKey: null,
      jwksUrl: null,
      algorithms: ['HS256'],
    });
    expect(after.text).not.toContain(rotated.body.secret);
    const stored = await service.deps.redis.hgetall(
      service.deps.keys.organization(tenant.organizationId).agentIdentity(agentId),
    );
    expect(JSON.stringify(stored)).not.toContain(rotated.body.secret.slice('mcpstack_is_'.length));
  });

  it('verifies a token signed with the secret to the user named by sub', async () => {
    const agentId = await newAgent();
    const secret = await rotate(agentId);
    const token = await sign(claims(agentId), utf8(secret), { alg: 'HS256' });
    expect(await verify(agentId, token)).toEqual({ ok: true, user: { kind: 'user', id: 'user-42' } });
  });

  it('refuses the old secret’s tokens as soon as the secret is rotated', async () => {
    const agentId = await newAgent();
    const oldSecret = await rotate(agentId);
    const token = await sign(claims(agentId), utf8(oldSecret), { alg: 'HS256' });
    expect((await verify(agentId, token)).ok).toBe(true);
    const newSecret = await rotate(agentId);
    expect(newSecret).not.toBe(oldSecret);
    expect(await verify(agentId, token)).toMatchObject({ ok: false, problem: 'invalid_user_token' });
    const fresh = await sign(claims(agentId), utf8(newSecret), { alg: 'HS256' });
    expect((await verify(agentId, fresh)).ok).toBe(true);
  });

  it('refuses every token once the identity is deleted, and when nothing is configured', async () => {
    const agentId = await newAgent();
    const token = await sign(claims(agentId), utf8(await rotate(agentId)), { alg: 'HS256' });
    expect((await verify(agentId, token)).ok).toBe(true);
    const deleted = await service.call('DELETE', identityPath(agentId), { token: tenant.keys.developer });
    expect(deleted.status).toBe(204);
    expect(await verify(agentId, token)).toMatchObject({ ok: false, problem: 'invalid_user_token' });
    const shown = await service.call('GET', identityPath(agentId), { token: tenant.keys.viewer });
    expect(shown.body.algorithms).toEqual([]);
  });
});

describe('forged and malformed tokens', () => {
  let agentId: string;
  let secret: string;
  let publicKeyPem: string;
  const valid = (overrides: Record<string, unknown> = {}) =>
    sign(claims(agentId, overrides), utf8(secret), { alg: 'HS256' });

  beforeAll(async () => {
    agentId = await newAgent();
    secret = await rotate(agentId);
    const pair = await generateKeyPair('ES256', { extractable: true });
    publicKeyPem = await exportSPKI(pair.publicKey);
    expect((await register(agentId, { publicKey: publicKeyPem })).status).toBe(200);
  });

  async function expectRefused(token: string, reason?: RegExp, problem = 'invalid_user_token') {
    const result = await verify(agentId, token);
    expect(result).toMatchObject({ ok: false, problem });
    if (reason && !result.ok) expect(result.reason).toMatch(reason);
    return result;
  }

  it('accepts the well-formed token the refusals below start from', async () => {
    expect(await verify(agentId, await valid())).toEqual({ ok: true, user: { kind: 'user', id: 'user-42' } });
  });

  it('refuses a token signed with another secret', async () => {
    await expectRefused(
      await sign(claims(agentId), utf8(`mcpstack_is_${'A'.repeat(43)}`), { alg: 'HS256' }),
      /signature verification failed/,
    );
  });

  it('refuses an unsigned token (alg none)', async () => {
    const header = base64url(JSON.stringify({ alg: 'none' }));
    const payload = base64url(JSON.stringify(claims(agentId)));
    await expectRefused(`${header}.${payload}.`, /"alg"/);
    await expectRefused(`${header}.${payload}`, /Invalid Compact JWS/);
  });

  it('refuses an HS256 token whose HMAC key is the registered public key’s PEM text', async () => {
    await expectRefused(
      await sign(claims(agentId), utf8(publicKeyPem), { alg: 'HS256' }),
      /signature verification failed/,
    );
    // Without an HS256 secret, HS256 is not even on the allowlist.
    const pemOnly = await newAgent();
    expect((await register(pemOnly, { publicKey: publicKeyPem })).status).toBe(200);
    const forged = await sign(claims(pemOnly), utf8(publicKeyPem), { alg: 'HS256' });
    const result = await verify(pemOnly, forged);
    expect(result).toMatchObject({ ok: false, problem: 'invalid_user_token' });
    expect(!result.ok && result.reason).toContain('"alg"');
  });

  it('refuses an RS256 token', async () => {
    const rsa = await generateKeyPair('RS256');
    await expectRefused(await sign(claims(agentId), rsa.privateKey, { alg: 'RS256' }), /"alg"/);
  });

  it('calls an expired token expired, beyond the 60 s tolerance only', async () => {
    await expectRefused(
      await valid({ iat: nowSeconds() - 600, exp: nowSeconds() - 120 }),
      /"exp"/,
      'expired_user_token',
    );
    expect((await verify(agentId, await valid({ exp: nowSeconds() - 30 }))).ok).toBe(true);
  });

  it('refuses a token for another audience, or without one', async () => {
    await expectRefused(await valid({ aud: 'agent_someone_else' }), /"aud"/);
    await expectRefused(await valid({ aud: undefined }), /"aud"/);
  });

  it('refuses a token without exp', async () => {
    await expectRefused(await valid({ exp: undefined }), /"exp"/);
  });

  it('refuses a lifetime over 24 hours, with or without iat', async () => {
    await expectRefused(await valid({ iat: nowSeconds(), exp: nowSeconds() + 86_400 + 3600 }), /lifetime/);
    await expectRefused(
      await valid({ iat: nowSeconds() - 23 * 3600, exp: nowSeconds() + 2 * 3600 }),
      /lifetime/,
    );
    await expectRefused(await valid({ iat: undefined, exp: nowSeconds() + 86_400 + 3600 }), /24 hours away/);
    expect((await verify(agentId, await valid({ iat: nowSeconds(), exp: nowSeconds() + 86_400 }))).ok).toBe(
      true,
    );
  });

  it('refuses a missing, empty, non-string or over-long sub', async () => {
    await expectRefused(await valid({ sub: undefined }), /"sub"/);
    await expectRefused(await valid({ sub: '' }), /"sub"/);
    await expectRefused(await valid({ sub: 42 }), /"sub"/);
    await expectRefused(await valid({ sub: 'u'.repeat(201) }), /"sub"/);
    expect(await verify(agentId, await valid({ sub: 'u'.repeat(200) }))).toMatchObject({ ok: true });
  });

  it('refuses garbage without throwing', async () => {
    for (const garbage of ['', 'garbage', 'a.b.c', '...', `${base64url('{')}.e30.x`, 'é.é.é']) {
      await expectRefused(garbage);
    }
  });

  it('refuses a 9 KB token unparsed', async () => {
    const padded = await valid({ padding: 'x'.repeat(9 * 1024) });
    const result = await expectRefused(padded, /8192/);
    expect(result).toMatchObject({ reason: 'longer than 8192 bytes' });
    expect(!result.ok && result.reason).toContain('8192');
  });

  it('logs refusals at warn with the agent and reason, never the token', async () => {
    const token = await sign(claims(agentId), utf8('not the secret'), { alg: 'HS256' });
    await expectRefused(token, /signature verification failed/);
    const lines = service.logs.filter((line) => line.includes('user token refused'));
    expect(lines.length).toBeGreaterThan(0);
    const last = JSON.parse(lines.at(-1)!);
    expect(last).toMatchObject({ level: 'warn', agentId, organizationId: tenant.organizationId });
    expect(service.logs.join('\n')).not.toContain(token.split('.')[2]);
  });
});

describe('public keys', () => {
  it('verifies ES256 tokens with a registered PEM key, and only ES256', async () => {
    const agentId = await newAgent();
    const pair = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportSPKI(pair.publicKey);
    const registered = await register(agentId, { publicKey: pem });
    expect(registered.status, registered.text).toBe(200);
    expect(registered.body).toMatchObject({ publicKey: pem, jwksUrl: null, algorithms: ['ES256'] });
    const token = await sign(claims(agentId), pair.privateKey, { alg: 'ES256' });
    expect(await verify(agentId, token)).toEqual({ ok: true, user: { kind: 'user', id: 'user-42' } });

    const stranger = await generateKeyPair('ES256');
    const forged = await sign(claims(agentId), stranger.privateKey, { alg: 'ES256' });
    expect(await verify(agentId, forged)).toMatchObject({ ok: false, problem: 'invalid_user_token' });
    const eddsa = await generateKeyPair('EdDSA');
    const wrongAlg = await sign(claims(agentId), eddsa.privateKey, { alg: 'EdDSA' });
    expect(await verify(agentId, wrongAlg)).toMatchObject({ ok: false, problem: 'invalid_user_token' });
  });

  it('verifies EdDSA tokens with a registered JWK', async () => {
    const agentId = await newAgent();
    const pair = await generateKeyPair('EdDSA', { extractable: true });
    const jwk = await exportJWK(pair.publicKey);
    const registered = await register(agentId, { publicKey: jwk });
    expect(registered.status, registered.text).toBe(200);
    expect(registered.body).toMatchObject({ publicKey: jwk, algorithms: ['EdDSA'] });
    const token = await sign(claims(agentId, { sub: 'customer-7' }), pair.privateKey, { alg: 'EdDSA' });
    expect(await verify(agentId, token)).toEqual({ ok: true, user: { kind: 'user', id: 'customer-7' } });
  });

  it('keeps the HS256 secret beside a public key, each for its own alg', async () => {
    const agentId = await newAgent();
    const secret = await rotate(agentId);
    const pair = await generateKeyPair('ES256', { extractable: true });
    await register(agentId, { publicKey: await exportJWK(pair.publicKey) });
    const shown = await service.call('GET', identityPath(agentId), { token: tenant.keys.viewer });
    expect(shown.body).toMatchObject({ hs256SecretSet: true, algorithms: ['HS256', 'ES256'] });
    expect((await verify(agentId, await sign(claims(agentId), utf8(secret), { alg: 'HS256' }))).ok).toBe(
      true,
    );
    expect((await verify(agentId, await sign(claims(agentId), pair.privateKey, { alg: 'ES256' }))).ok).toBe(
      true,
    );

    // PUT with neither removes the public key and keeps the secret.
    const cleared = await register(agentId, {});
    expect(cleared.body).toMatchObject({ hs256SecretSet: true, publicKey: null, algorithms: ['HS256'] });
    expect((await verify(agentId, await sign(claims(agentId), pair.privateKey, { alg: 'ES256' }))).ok).toBe(
      false,
    );
  });

  describe('refuses keys that do not import as ES256 or EdDSA', () => {
    const es256Jwk = async () => exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
    const refused: Array<[string, () => Promise<unknown>]> = [
      [
        'an RSA PEM key',
        async () => exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey),
      ],
      [
        'a P-384 PEM key',
        async () => exportSPKI((await generateKeyPair('ES384', { extractable: true })).publicKey),
      ],
      [
        'an RSA JWK',
        async () => exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey),
      ],
      [
        'a private JWK',
        async () => exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey),
      ],
      ['a symmetric JWK', async () => ({ kty: 'oct', k: 'c2VjcmV0' })],
      ['a JWK with a mismatched alg', async () => ({ ...(await es256Jwk()), alg: 'HS256' })],
      ['a JWK with a broken point', async () => ({ ...(await es256Jwk()), x: 'AAAA' })],
      [
        'a PEM with garbage inside',
        async () => '-----BEGIN PUBLIC KEY-----\nnotbase64\n-----END PUBLIC KEY-----',
      ],
      ['plain text', async () => 'my-public-key'],
    ];
    for (const [why, makeKey] of refused) {
      it(`refuses ${why} with 400 validation_failed`, async () => {
        const agentId = await newAgent();
        const result = await register(agentId, { publicKey: await makeKey() });
        expect(result.status, result.text).toBe(400);
        expect(result.body.error.code).toBe('validation_failed');
        expect(result.body.error.message).toMatch(/publicKey/);
      });
    }
  });

  it('refuses publicKey and jwksUrl together, and unknown fields', async () => {
    const agentId = await newAgent();
    const pair = await generateKeyPair('ES256', { extractable: true });
    const both = await register(agentId, {
      publicKey: await exportSPKI(pair.publicKey),
      jwksUrl: 'https://example.com/jwks.json',
    });
    expect(both.status).toBe(400);
    expect(both.body.error.message).toContain('body.jwksUrl: give publicKey or jwksUrl, not both');
    const unknown = await register(agentId, { secret: 'x' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('unknown field "secret"');
  });
});

describe('a JWKS URL', () => {
  let server: Server;
  let jwksUrl: string;
  let requests = 0;
  const keys: JWK[] = [];
  const signers: Record<string, CryptoKey> = {};

  beforeAll(async () => {
    for (const [kid, alg] of [
      ['k1', 'ES256'],
      ['k2', 'ES256'],
      ['k3', 'EdDSA'],
    ] as const) {
      const pair = await generateKeyPair(alg, { extractable: true });
      keys.push({ ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' });
      signers[kid] = pair.privateKey;
    }
    server = createServer((request, response) => {
      requests++;
      if (request.url !== '/.well-known/jwks.json') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('verifies tokens by kid, and refuses an unknown kid or a key under another kid', async () => {
    const agentId = await newAgent();
    const registered = await register(agentId, { jwksUrl });
    expect(registered.status, registered.text).toBe(200);
    expect(registered.body).toMatchObject({ jwksUrl, publicKey: null, algorithms: ['ES256', 'EdDSA'] });

    for (const kid of ['k1', 'k2']) {
      const token = await sign(claims(agentId, { sub: `via-${kid}` }), signers[kid]!, { alg: 'ES256', kid });
      expect(await verify(agentId, token)).toEqual({ ok: true, user: { kind: 'user', id: `via-${kid}` } });
    }
    const eddsa = await sign(claims(agentId), signers.k3!, { alg: 'EdDSA', kid: 'k3' });
    expect((await verify(agentId, eddsa)).ok).toBe(true);
    expect(requests).toBeGreaterThan(0);

    const swapped = await sign(claims(agentId), signers.k1!, { alg: 'ES256', kid: 'k2' });
    expect(await verify(agentId, swapped)).toMatchObject({ ok: false, problem: 'invalid_user_token' });
    const unknownKid = await sign(claims(agentId), signers.k1!, { alg: 'ES256', kid: 'k9' });
    expect(await verify(agentId, unknownKid)).toMatchObject({ ok: false, problem: 'invalid_user_token' });
    const confused = await sign(claims(agentId), utf8(JSON.stringify(keys[0])), { alg: 'HS256', kid: 'k1' });
    expect(await verify(agentId, confused)).toMatchObject({ ok: false, problem: 'invalid_user_token' });
  });

  it('refuses tokens when the JWKS cannot be fetched', async () => {
    const agentId = await newAgent();
    await register(agentId, { jwksUrl: jwksUrl.replace('/.well-known/jwks.json', '/missing.json') });
    const token = await sign(claims(agentId), signers.k1!, { alg: 'ES256', kid: 'k1' });
    expect(await verify(agentId, token)).toMatchObject({ ok: false, problem: 'invalid_user_token' });
  });

  it('connects only to public addresses when private URLs are not allowed', async () => {
    const agentId = await newAgent();
    await register(agentId, { jwksUrl });
    const token = await sign(claims(agentId), signers.k1!, { alg: 'ES256', kid: 'k1' });
    const strict = { ...service.deps, env: { ...service.deps.env, MCPSTACK_ALLOW_PRIVATE_URLS: false } };
    const result = await verifyUserToken(strict, tenant.organizationId, agentId, token);
    expect(result).toMatchObject({ ok: false, problem: 'invalid_user_token' });
    expect(!result.ok && result.reason).toContain('loopback');
  });

  it('refuses http and private JWKS URLs at registration without MCPSTACK_ALLOW_PRIVATE_URLS', async () => {
    const strict = await startTestService({ MCPSTACK_ALLOW_PRIVATE_URLS: 'false' });
    try {
      const strictTenant = await strict.createTenant();
      const agentId = await createAgent(strict.call, actingAs(strictTenant, 'developer'), { name: 'Strict' });
      const path = `${agentsPath(strictTenant.organizationId)}/${agentId}/identity`;
      const put = (url: string) =>
        strict.call('PUT', path, { token: strictTenant.keys.developer, body: { jwksUrl: url } });
      const http = await put(jwksUrl);
      expect(http.status).toBe(400);
      expect(http.body.error).toMatchObject({ code: 'invalid_url' });
      expect(http.body.error.message).toContain('jwksUrl: must start with https://');
      const loopback = await put('https://127.0.0.1/.well-known/jwks.json');
      expect(loopback.status).toBe(400);
      expect(loopback.body.error.code).toBe('private_url_not_allowed');
      expect(loopback.body.error.message).toMatch(/^jwksUrl: /);
    } finally {
      await strict.stop();
    }
  });
});

describe('access', () => {
  it('lets a viewer read the identity but not rotate, set or delete it', async () => {
    const agentId = await newAgent();
    const rotateByViewer = await service.call('POST', secretPath(agentId), { token: tenant.keys.viewer });
    expect(rotateByViewer.status).toBe(403);
    expect(rotateByViewer.body.error.code).toBe('insufficient_permissions');
    const putByViewer = await service.call('PUT', identityPath(agentId), {
      token: tenant.keys.viewer,
      body: {},
    });
    expect(putByViewer.status).toBe(403);
    const deleteByViewer = await service.call('DELETE', identityPath(agentId), { token: tenant.keys.viewer });
    expect(deleteByViewer.status).toBe(403);
    expect((await service.call('GET', identityPath(agentId), { token: tenant.keys.viewer })).status).toBe(
      200,
    );
    expect((await service.call('GET', identityPath(agentId), { token: tenant.keys.billing })).status).toBe(
      403,
    );
  });

  it('answers 404 agent_not_found for an unknown agent and another organization’s agent', async () => {
    const unknown = await service.call('POST', secretPath('agent_does_not_exist'), {
      token: tenant.keys.admin,
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('agent_not_found');

    const foreignAgentId = await newAgent(other);
    for (const [method, path] of [
      ['POST', secretPath(foreignAgentId)],
      ['GET', identityPath(foreignAgentId)],
      ['DELETE', identityPath(foreignAgentId)],
    ] as const) {
      const result = await service.call(method, path, { token: tenant.keys.admin });
      expect(result.status, `${method} ${path}`).toBe(404);
      expect(result.body.error.code).toBe('agent_not_found');
    }
    const put = await service.call('PUT', identityPath(foreignAgentId), {
      token: tenant.keys.admin,
      body: {},
    });
    expect(put.status).toBe(404);
    const crossOrg = await service.call('POST', secretPath(foreignAgentId, other.organizationId), {
      token: tenant.keys.admin,
    });
    expect(crossOrg.status).toBe(404);
    expect(crossOrg.body.error.code).toBe('organization_not_found');
    const shown = await service.call('GET', identityPath(foreignAgentId, other.organizationId), {
      token: other.keys.viewer,
    });
    expect(shown.body.hs256SecretSet).toBe(false);
  });

  it('deletes the identity with its agent', async () => {
    const agentId = await newAgent();
    await rotate(agentId);
    const key = service.deps.keys.organization(tenant.organizationId).agentIdentity(agentId);
    expect(await service.deps.redis.exists(key)).toBe(1);
    const deleted = await service.call('DELETE', `${agentsPath(tenant.organizationId)}/${agentId}`, {
      token: tenant.keys.developer,
    });
    expect(deleted.status).toBe(204);
    expect(await service.deps.redis.exists(key)).toBe(0);
  });

  it('documents the routes in the OpenAPI document', async () => {
    const document = await service.call('GET', '/api/v1/openapi.json', { token: null });
    const identity = document.body.paths['/api/v1/organizations/{orgId}/agents/{agentId}/identity'];
    expect(identity.get['x-required-permission']).toBe('agents:read');
    expect(identity.put['x-required-permission']).toBe('agents:manage');
    expect(identity.delete['x-required-permission']).toBe('agents:manage');
    const secret = document.body.paths['/api/v1/organizations/{orgId}/agents/{agentId}/identity-secret'];
    expect(secret.post['x-required-permission']).toBe('agents:manage');
  });
});
