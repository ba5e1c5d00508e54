import { errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { Deps } from '../../deps.ts';
import { algorithmsOf, readIdentity } from './stored-identity.ts';

/**
 * Signed end-user identity (SPEC, "Identity and authorization"): a website's backend signs a JWT for
 * its logged-in user and the widget passes it as `userToken`; `sub` is the external user id. Every
 * token is checked against the agent's identity hash as read on the request, so a rotation or
 * removal takes effect on the next one.
 */

export type UserTokenProblem = 'invalid_user_token' | 'expired_user_token';

export interface EndUser {
  kind: 'user';
  id: string;
}

export type UserTokenResult =
  | { ok: true; user: EndUser }
  | { ok: false; problem: UserTokenProblem; reason: string };

/** Longer tokens are refused unparsed: a real one is a few hundred bytes. */
export const maxUserTokenBytes = 8192;
/** A token may live at most a day, so a leaked one is not a lasting identity. */
export const maxUserTokenLifetimeSeconds = 86_400;
export const clockToleranceSeconds = 60;
export const maxUserIdLength = 200;

type VerifyDeps = Pick<Deps, 'redis' | 'keys' | 'secretBox' | 'env' | 'logger' | 'clock' | 'userTokenKeys'>;

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
        return deps.userTokenKeys.publicKey(identity.publicKey);
      }
      if (identity.jwksUrl !== undefined) {
        try {
          return await deps.userTokenKeys.jwks(identity.jwksUrl, allowPrivate)(header, jws);
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
