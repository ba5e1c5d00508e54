import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { getAgent } from '../agents.ts';
import { maxUrlLength } from '../outbound/url-guard.ts';
import { checkJwksUrl } from './jwks.ts';
import { importPublicKey, type PublicKeyInput, publicKeyInput } from './public-key.ts';
import {
  algorithmsOf,
  type IdentityAlgorithm,
  identityKey,
  parseStoredPublicKey,
  readIdentity,
  type StoredIdentity,
} from './stored-identity.ts';

/**
 * How an agent's user tokens are checked, as its developers manage it: an HS256 secret the service
 * issues, and/or one public key (PEM SPKI or JWK) or one JWKS URL for ES256/EdDSA.
 */

export const identitySecretPrefix = 'mcpstack_is_';

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

export interface IdentityView {
  hs256SecretSet: boolean;
  hs256SecretCreatedAt: string | null;
  publicKey: PublicKeyInput | null;
  jwksUrl: string | null;
  algorithms: IdentityAlgorithm[];
}

export interface IdentitySecret {
  secret: string;
  createdAt: string;
}

type IdentityDeps = Pick<Deps, 'redis' | 'keys' | 'stores' | 'clock' | 'secretBox' | 'env' | 'modelCatalog'>;

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
