import type { Deps } from '../deps.ts';
import { ApiError } from '../errors.ts';
import type { EmbedKeyLookup } from './embed-keys.ts';
import { type VerifiedDomainCheck, verifiedDomainCheck } from './embed-origins.ts';
import { type RefusalDetails, remedies } from './refusals.ts';

/**
 * Admitting a chat request by its embed key: the key must still be live and the request's origin
 * allowed, checked on every request (the key's lookup may be remembered; these reads never are).
 */

const originRefusal: RefusalDetails = { limitSource: 'origin', retryable: false, remedy: remedies.origin };

/** 401 `invalid_public_key`: no such key, or it was revoked. */
export const embedKeyRefused = () =>
  new ApiError('invalid_public_key', 'The embed key is invalid or was revoked');

/** 403 `origin_not_allowed`, saying why. */
export const originRefused = (origin: string, problem: string) =>
  new ApiError('origin_not_allowed', problem, { origin, ...originRefusal });

/**
 * What admission checks of a request's key and origin in Redis, beside its other reads: the key's
 * entity (revocation deletes it first, so a remembered lookup is never enough) and, when
 * MCPSTACK_REQUIRE_VERIFIED_DOMAINS, whether the origin is on one of the agent's verified domains
 * (read on every request: removing a domain stops its origins on the very next one).
 */
export interface KeyAdmission {
  entityKey: string;
  verifiedDomainsKey: string;
  origin: string;
  domains: VerifiedDomainCheck;
}

export function keyAdmission(
  deps: Pick<Deps, 'keys' | 'env'>,
  key: EmbedKeyLookup,
  origin: string,
): KeyAdmission {
  const keys = deps.keys.organization(key.organizationId);
  return {
    entityKey: keys.entity('embed-key', key.id),
    verifiedDomainsKey: keys.agentVerifiedDomains(key.agentId),
    origin,
    domains: verifiedDomainCheck(deps.env, origin),
  };
}

/** Throws when the origin is refused, given whether any of its candidate domains is verified. */
export function assertOriginAdmitted(admission: KeyAdmission, onVerifiedDomain: boolean): void {
  const { domains } = admission;
  const problem = domains.kind === 'decided' ? domains.problem : onVerifiedDomain ? null : domains.problem;
  if (problem !== null) throw originRefused(admission.origin, problem);
}

/** The key's admission on its own (for requests whose limits are not taken by `chat-admit.lua`). */
export async function confirmEmbedKey(
  deps: Pick<Deps, 'redis' | 'keys' | 'env'>,
  key: EmbedKeyLookup,
  origin: string,
): Promise<void> {
  const admission = keyAdmission(deps, key, origin);
  const { domains } = admission;
  const [live, verified] = await Promise.all([
    deps.redis.exists(admission.entityKey),
    domains.kind === 'any-of'
      ? deps.redis.smismember(admission.verifiedDomainsKey, ...domains.domains)
      : null,
  ]);
  if (live !== 1) throw embedKeyRefused();
  assertOriginAdmitted(admission, verified?.includes(1) ?? false);
}
