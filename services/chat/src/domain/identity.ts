import { randomBytes } from 'node:crypto';
import {
  type CryptoKey,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FetchImplementation,
  importJWK,
  importSPKI,
  type JWTVerifyGetKey,
  jwtVerify,
  type RemoteJWKSet,
} from 'jose';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { ApiError } from '../errors.ts';
import { getAgent } from './agents.ts';
import { assertPublicUrl, createGuardedFetch, maxUrlLength } from './outbound/url-guard.ts';

/**
 * Signed end-user identity (SPEC, "Identity and authorization"): a website's backend signs a JWT for
 * its logged-in user and the widget passes it as `userToken`; `sub` is the external user id. Each
 * agent configures how its tokens are checked, in one Redis hash: an HS256 secret the service issues,
 * and/or one public key (PEM SPKI or JWK) or one JWKS URL for ES256/EdDSA. Every token is checked
 * against that hash as read on the request, so a rotation or removal takes effect on the next one.
 */

export type UserTokenProblem = 'invalid_user_token' | 'expired_user_token';

export interface EndUser {
  kind: 'user';
  id: string;
}

export type UserTokenResult =
  | { ok: true; user: EndUser }
  | { ok: false; problem: UserTokenProblem; reason: string };

export type IdentityAlgorithm = 'HS256' | 'ES256' | 'EdDSA';

export const identitySecretPrefix = 'mcpstack_is_';
/** Longer tokens are refused unparsed: a real one is a few hundred bytes. */
export const maxUserTokenBytes = 8192;
/** A token may live at most a day, so a leaked one is not a lasting identity. */
export const maxUserTokenLifetimeSeconds = 86_400;
export const clockToleranceSeconds = 60;
export const maxUserIdLength = 200;
const maxPublicKeyChars = 10_000;
const maxJwksBytes = 256 * 1024;
const jwksTimeoutMs = 5000;
const maxCachedEntries = 500;

const jwkInput = z
  .object({ kty: z.string().max(10) })
  .catchall(z.unknown())
  .refine(
    (jwk) => JSON.stringify(jwk).length <= maxPublicKeyChars,
    `must be at most ${maxPublicKeyChars} characters as JSON`,
  )
  .describe(
    'A public JWK: {"kty":"EC","crv":"P-256","x","y"} (ES256) or {"kty":"OKP","crv":"Ed25519","x"} (EdDSA).',
  );

const publicKeyInput = z.union([
  z
    .string()
    .max(maxPublicKeyChars)
    .describe('A PEM SPKI public key ("-----BEGIN PUBLIC KEY-----"), P-256 (ES256) or Ed25519 (EdDSA).'),
  jwkInput,
]);

export const putIdentityInput = z
  .object({
    publicKey: publicKeyInput
      .nullable()
      .optional()
      .describe(
        'The public key that verifies ES256 or EdDSA user tokens: a PEM SPKI string or a public JWK object. ' +
          'Never a private key.',
      ),
    jwksUrl: z
      .string()
      .max(maxUrlLength)
      .nullable()
      .optional()
      .describe(
        'An https URL serving a JWKS whose ES256/EdDSA keys verify user tokens (selected by "kid" and "alg"); ' +
          'fetched through the SSRF guard and cached. http only with MCPSTACK_ALLOW_PRIVATE_URLS=true.',
      ),
  })
  .strict()
  .refine((input) => !(input.publicKey != null && input.jwksUrl != null), {
    message: 'give publicKey or jwksUrl, not both (a JWKS can hold several keys)',
    path: ['jwksUrl'],
  })
  .describe(
    'Replaces the public-key verification of the agent’s user tokens: publicKey or jwksUrl, or neither to ' +
      'remove it. The HS256 identity secret, if any, is kept.',
  );

type StoredPublicKey = z.infer<typeof publicKeyInput>;

/** The identity hash as stored; every field optional, as each mechanism is set on its own. */
const storedIdentity = z.object({
  /** The HS256 secret, sealed with the agent id as context. */
  hs256Secret: z.string().optional(),
  hs256SecretCreatedAt: z.string().optional(),
  /** The public key as given, as JSON (a PEM string or a JWK object). */
  publicKey: z.string().optional(),
  publicKeyAlgorithm: z.enum(['ES256', 'EdDSA']).optional(),
  jwksUrl: z.string().optional(),
});
type StoredIdentity = z.infer<typeof storedIdentity>;

export interface IdentityView {
  hs256SecretSet: boolean;
  hs256SecretCreatedAt: string | null;
  publicKey: StoredPublicKey | null;
  jwksUrl: string | null;
  algorithms: IdentityAlgorithm[];
}

export interface IdentitySecret {
  secret: string;
  createdAt: string;
}

type IdentityDeps = Pick<Deps, 'redis' | 'keys' | 'stores' | 'clock' | 'secretBox' | 'env' | 'modelCatalog'>;
type VerifyDeps = Pick<Deps, 'redis' | 'keys' | 'secretBox' | 'env' | 'logger' | 'clock'>;

function identityKey(deps: Pick<Deps, 'keys'>, organizationId: string, agentId: string): string {
  return deps.keys.organization(organizationId).agentIdentity(agentId);
}

async function readIdentity(
  deps: Pick<Deps, 'redis' | 'keys'>,
  organizationId: string,
  agentId: string,
): Promise<StoredIdentity> {
  return storedIdentity.parse(await deps.redis.hgetall(identityKey(deps, organizationId, agentId)));
}

function parseStoredPublicKey(stored: string): StoredPublicKey {
  return publicKeyInput.parse(JSON.parse(stored));
}

function algorithmsOf(identity: StoredIdentity): IdentityAlgorithm[] {
  const algorithms: IdentityAlgorithm[] = [];
  if (identity.hs256Secret !== undefined) algorithms.push('HS256');
  if (identity.publicKey !== undefined && identity.publicKeyAlgorithm !== undefined) {
    algorithms.push(identity.publicKeyAlgorithm);
  }
  // A JWKS may hold keys of either kind; the token's alg and kid pick one.
  if (identity.jwksUrl !== undefined) algorithms.push('ES256', 'EdDSA');
  return algorithms;
}

function viewIdentity(identity: StoredIdentity): IdentityView {
  return {
    hs256SecretSet: identity.hs256Secret !== undefined,
    hs256SecretCreatedAt: identity.hs256SecretCreatedAt ?? null,
    publicKey: identity.publicKey === undefined ? null : parseStoredPublicKey(identity.publicKey),
    jwksUrl: identity.jwksUrl ?? null,
    algorithms: algorithmsOf(identity),
  };
}

/**
 * A write can race deleteAgent; deleteAgent removes the identity hash after removing the agent, so
 * either it sees this write or this check sees the agent gone (as createEmbedKey does).
 */
async function undoIfAgentGone(deps: IdentityDeps, organizationId: string, agentId: string): Promise<void> {
  if (await deps.stores.agents.get(organizationId, agentId)) return;
  await deps.redis.del(identityKey(deps, organizationId, agentId));
  throw new ApiError('agent_not_found', `No agent ${agentId} in this organization`);
}

function checkExec(results: [Error | null, unknown][] | null): void {
  if (results === null) throw new Error('The identity update was aborted');
  for (const [error] of results) if (error) throw error;
}

export async function getIdentity(
  deps: IdentityDeps,
  organizationId: string,
  agentId: string,
): Promise<IdentityView> {
  await getAgent(deps, organizationId, agentId);
  return viewIdentity(await readIdentity(deps, organizationId, agentId));
}

/**
 * Issues a new HS256 identity secret, replacing any previous one at once (tokens signed with the old
 * one fail from the next request). The secret is returned here only; it is stored sealed.
 */
export async function rotateIdentitySecret(
  deps: IdentityDeps,
  organizationId: string,
  agentId: string,
): Promise<IdentitySecret> {
  await getAgent(deps, organizationId, agentId);
  const secret = `${identitySecretPrefix}${randomBytes(32).toString('base64url')}`;
  const createdAt = deps.clock.now().toISOString();
  await deps.redis.hset(identityKey(deps, organizationId, agentId), {
    hs256Secret: deps.secretBox.seal(secret, agentId),
    hs256SecretCreatedAt: createdAt,
  });
  await undoIfAgentGone(deps, organizationId, agentId);
  return { secret, createdAt };
}

/** Sets (or, with neither field, removes) the agent's public key or JWKS URL. */
export async function putIdentity(
  deps: IdentityDeps,
  organizationId: string,
  agentId: string,
  input: z.infer<typeof putIdentityInput>,
): Promise<IdentityView> {
  await getAgent(deps, organizationId, agentId);
  const fields: Record<string, string> = {};
  if (input.publicKey != null) {
    const { algorithm } = await importPublicKey(input.publicKey);
    fields.publicKey = JSON.stringify(input.publicKey);
    fields.publicKeyAlgorithm = algorithm;
  } else if (input.jwksUrl != null) {
    fields.jwksUrl = await checkJwksUrl(input.jwksUrl, deps.env.MCPSTACK_ALLOW_PRIVATE_URLS);
  }
  const key = identityKey(deps, organizationId, agentId);
  const transaction = deps.redis.multi().hdel(key, 'publicKey', 'publicKeyAlgorithm', 'jwksUrl');
  if (Object.keys(fields).length > 0) transaction.hset(key, fields);
  checkExec(await transaction.exec());
  await undoIfAgentGone(deps, organizationId, agentId);
  return viewIdentity(await readIdentity(deps, organizationId, agentId));
}

/** Removes every way of verifying the agent's user tokens: from the next request, all are refused. */
export async function deleteIdentity(
  deps: IdentityDeps,
  organizationId: string,
  agentId: string,
): Promise<void> {
  await getAgent(deps, organizationId, agentId);
  await deps.redis.del(identityKey(deps, organizationId, agentId));
}

function invalidKey(message: string): ApiError {
  return new ApiError('validation_failed', `publicKey: ${message}`);
}

/**
 * Imports a registered public key with jose, for the one algorithm its type allows: a P-256 key is
 * ES256 only, an Ed25519 key EdDSA only. Private keys, symmetric keys and other curves are refused.
 */
async function importPublicKey(
  publicKey: StoredPublicKey,
): Promise<{ algorithm: 'ES256' | 'EdDSA'; key: CryptoKey }> {
  if (typeof publicKey === 'string') {
    const pem = publicKey.trim();
    if (!/^-----BEGIN PUBLIC KEY-----\r?\n[\s\S]+\r?\n-----END PUBLIC KEY-----$/.test(pem)) {
      throw invalidKey(
        'must be a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI), never a private key or certificate',
      );
    }
    for (const algorithm of ['ES256', 'EdDSA'] as const) {
      try {
        return { algorithm, key: await importSPKI(pem, algorithm) };
      } catch {
        // not a key of this algorithm: try the next
      }
    }
    throw invalidKey('must be a P-256 (ES256) or Ed25519 (EdDSA) public key');
  }
  if ('d' in publicKey || 'p' in publicKey || 'k' in publicKey) {
    throw invalidKey('must be a public JWK; it holds private or symmetric key material');
  }
  const algorithm =
    publicKey.kty === 'EC' && publicKey.crv === 'P-256'
      ? 'ES256'
      : publicKey.kty === 'OKP' && publicKey.crv === 'Ed25519'
        ? 'EdDSA'
        : null;
  if (algorithm === null) {
    throw invalidKey(
      'must be a JWK with kty "EC" and crv "P-256" (ES256), or kty "OKP" and crv "Ed25519" (EdDSA)',
    );
  }
  if (publicKey.alg !== undefined && publicKey.alg !== algorithm) {
    throw invalidKey(`its "alg" is ${JSON.stringify(publicKey.alg)}, but the key is an ${algorithm} key`);
  }
  if (publicKey.use !== undefined && publicKey.use !== 'sig') {
    throw invalidKey('its "use" must be "sig"');
  }
  try {
    const key = await importJWK(publicKey, algorithm);
    if (key instanceof Uint8Array) throw new Error('symmetric');
    return { algorithm, key };
  } catch {
    throw invalidKey(`is not a valid ${algorithm} public JWK`);
  }
}

/** https only (http too when private URLs are allowed, for development), checked like MCP server URLs. */
async function checkJwksUrl(raw: string, allowPrivate: boolean): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ApiError(
      'invalid_url',
      'jwksUrl: is not a URL; give one like https://example.com/.well-known/jwks.json',
    );
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    throw new ApiError(
      'invalid_url',
      `jwksUrl: must start with https://${allowPrivate ? ' or http://' : ''}, not ${url.protocol}//`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new ApiError('invalid_url', 'jwksUrl: must not carry credentials (user:password@)');
  }
  try {
    await assertPublicUrl(url, allowPrivate);
  } catch (error) {
    if (error instanceof ApiError) {
      throw new ApiError(error.code, error.message.replace(/^url: /, 'jwksUrl: '), error.details);
    }
    throw error;
  }
  return url.href;
}

/** Caches of derived values only (imported keys, fetched key sets): the truth stays in Redis. */
function remember<V>(cache: Map<string, V>, key: string, create: () => V): V {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const value = create();
  cache.set(key, value);
  if (cache.size > maxCachedEntries) cache.delete(cache.keys().next().value as string);
  return value;
}

const importedKeys = new Map<string, Promise<CryptoKey>>();
const remoteKeySets = new Map<string, RemoteJWKSet>();
const jwksFetches = new Map<string, FetchImplementation>();

function importStoredKey(stored: string): Promise<CryptoKey> {
  return remember(importedKeys, stored, () => {
    const imported = importPublicKey(parseStoredPublicKey(stored)).then(({ key }) => key);
    imported.catch(() => importedKeys.delete(stored));
    return imported;
  });
}

/**
 * The SSRF-guarded fetch (checked on the socket's own DNS answer, every time), with the JWKS body
 * bounded: jose parses whatever it is given.
 */
function jwksFetch(allowPrivate: boolean): FetchImplementation {
  return remember(jwksFetches, String(allowPrivate), () => {
    const guarded = createGuardedFetch(allowPrivate, { timeoutMs: jwksTimeoutMs });
    return async (url, options) => {
      const response = await guarded(url, options);
      if (response.status !== 200 || response.body === null) return response;
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += chunk.byteLength;
        if (size > maxJwksBytes) throw new Error(`the JWKS is larger than ${maxJwksBytes} bytes`);
        chunks.push(chunk);
      }
      return new Response(Buffer.concat(chunks), { status: 200, headers: response.headers });
    };
  });
}

function remoteKeySet(jwksUrl: string, allowPrivate: boolean): RemoteJWKSet {
  return remember(remoteKeySets, `${allowPrivate}|${jwksUrl}`, () =>
    createRemoteJWKSet(new URL(jwksUrl), {
      timeoutDuration: jwksTimeoutMs,
      [customFetch]: jwksFetch(allowPrivate),
    }),
  );
}

/** A JWKS that could not be fetched: the token is refused, but it is the key set's fault. */
class JwksUnavailable extends Error {
  override name = 'JwksUnavailable';
}

function refuse(
  deps: VerifyDeps,
  organizationId: string,
  agentId: string,
  problem: UserTokenProblem,
  reason: string,
): UserTokenResult {
  // Never the token: it is a bearer credential.
  deps.logger.warn({ organizationId, agentId, problem, reason }, 'user token refused');
  return { ok: false, problem, reason };
}

/**
 * Verifies a user token for the agent. Returns the user, or the problem; never throws for a bad
 * token (a Redis failure still throws: the caller must fail closed).
 *
 * The allowlist holds only the algorithms the agent configured, and the key is picked by the
 * token's `alg`: an HS256 token is checked only with the HS256 secret, never with a public key's
 * text, and `none`, RS256 and the rest are refused before any key is used.
 */
export async function verifyUserToken(
  deps: VerifyDeps,
  organizationId: string,
  agentId: string,
  token: string,
): Promise<UserTokenResult> {
  if (token.length === 0) return refuse(deps, organizationId, agentId, 'invalid_user_token', 'empty token');
  if (Buffer.byteLength(token) > maxUserTokenBytes) {
    return refuse(
      deps,
      organizationId,
      agentId,
      'invalid_user_token',
      `longer than ${maxUserTokenBytes} bytes`,
    );
  }
  const identity = await readIdentity(deps, organizationId, agentId);
  const algorithms = algorithmsOf(identity);
  if (algorithms.length === 0) {
    return refuse(
      deps,
      organizationId,
      agentId,
      'invalid_user_token',
      'the agent has no user-token verification',
    );
  }
  const secret =
    identity.hs256Secret === undefined
      ? undefined
      : new TextEncoder().encode(deps.secretBox.open(identity.hs256Secret, agentId));
  const allowPrivate = deps.env.MCPSTACK_ALLOW_PRIVATE_URLS;

  const getKey: JWTVerifyGetKey = async (header, jws) => {
    if (header.alg === 'HS256' && secret !== undefined) return secret;
    if (header.alg === 'ES256' || header.alg === 'EdDSA') {
      if (identity.publicKey !== undefined && identity.publicKeyAlgorithm === header.alg) {
        return importStoredKey(identity.publicKey);
      }
      if (identity.jwksUrl !== undefined) {
        try {
          return await remoteKeySet(identity.jwksUrl, allowPrivate)(header, jws);
        } catch (error) {
          if (error instanceof errors.JOSEError) throw error;
          throw new JwksUnavailable(`the JWKS could not be fetched: ${(error as Error).message}`);
        }
      }
    }
    throw new errors.JOSEAlgNotAllowed(`no key for "alg" ${JSON.stringify(header.alg)}`);
  };

  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms,
      audience: agentId,
      clockTolerance: clockToleranceSeconds,
      requiredClaims: ['exp', 'sub'],
      currentDate: deps.clock.now(),
    }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) {
      return refuse(deps, organizationId, agentId, 'expired_user_token', error.message);
    }
    // jose's own errors, the JWKS's, and anything a crafted token provokes inside jose: all refusals.
    const reason = error instanceof Error ? error.message : String(error);
    return refuse(deps, organizationId, agentId, 'invalid_user_token', reason);
  }

  // jose has checked exp, nbf and iat to be numbers, and exp to be in the future.
  const now = Math.floor(deps.clock.now().getTime() / 1000);
  const exp = payload.exp as number;
  const iat = payload.iat as number | undefined;
  if (iat !== undefined && exp - iat > maxUserTokenLifetimeSeconds) {
    return refuse(
      deps,
      organizationId,
      agentId,
      'invalid_user_token',
      'lifetime (exp - iat) is over 24 hours',
    );
  }
  if (exp - now > maxUserTokenLifetimeSeconds + clockToleranceSeconds) {
    return refuse(deps, organizationId, agentId, 'invalid_user_token', '"exp" is more than 24 hours away');
  }
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > maxUserIdLength) {
    return refuse(
      deps,
      organizationId,
      agentId,
      'invalid_user_token',
      `"sub" must be a string of 1 to ${maxUserIdLength} characters`,
    );
  }
  return { ok: true, user: { kind: 'user', id: sub } };
}
