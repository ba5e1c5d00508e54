import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { type PublicKeyAlgorithm, type PublicKeyInput, publicKeyInput } from './public-key.ts';

/**
 * An agent's identity settings, in one Redis hash: an HS256 secret the service issues, and/or one
 * public key or one JWKS URL. Settings write it; every token check reads it afresh, so a rotation
 * or removal takes effect on the next request.
 */

export type IdentityAlgorithm = 'HS256' | PublicKeyAlgorithm;

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
export type StoredIdentity = z.infer<typeof storedIdentity>;

export function identityKey(deps: Pick<Deps, 'keys'>, organizationId: string, agentId: string): string {
  return deps.keys.organization(organizationId).agentIdentity(agentId);
}

export async function readIdentity(
  deps: Pick<Deps, 'redis' | 'keys'>,
  organizationId: string,
  agentId: string,
): Promise<StoredIdentity> {
  return storedIdentity.parse(await deps.redis.hgetall(identityKey(deps, organizationId, agentId)));
}

export function parseStoredPublicKey(stored: string): PublicKeyInput {
  return publicKeyInput.parse(JSON.parse(stored));
}

/** The `alg` values a token of this agent may carry: exactly those its settings can verify. */
export function algorithmsOf(identity: StoredIdentity): IdentityAlgorithm[] {
  const algorithms: IdentityAlgorithm[] = [];
  if (identity.hs256Secret !== undefined) algorithms.push('HS256');
  if (identity.publicKey !== undefined && identity.publicKeyAlgorithm !== undefined) {
    algorithms.push(identity.publicKeyAlgorithm);
  }
  // A JWKS may hold keys of either kind; the token's alg and kid pick one.
  if (identity.jwksUrl !== undefined) algorithms.push('ES256', 'EdDSA');
  return algorithms;
}
