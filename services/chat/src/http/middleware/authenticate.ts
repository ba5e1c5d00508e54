import type { Request } from 'express';
import type { Deps } from '../../deps.ts';
import { authenticateSecretKey, isOperatorToken, publishableKeyPrefix } from '../../domain/auth/api-keys.ts';
import type { Principal } from '../../domain/auth/permissions.ts';
import { csrfTokenMatches, resolveConsoleSession } from '../../domain/console/sessions.ts';
import { ApiError } from '../../errors.ts';
import { readCsrfToken, readSessionCookie, requireSameOrigin } from '../console-cookie.ts';

/** The credential of a management request: `Authorization: Bearer …` or `X-API-Key: …`. */
export function readCredential(request: Request): string | null {
  const header = request.get('authorization');
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError('unauthenticated', 'The Authorization header must be "Bearer <key>"');
    return match[1]!;
  }
  const apiKey = request.get('x-api-key');
  return apiKey === undefined ? null : apiKey.trim();
}

/** The origin the client addressed (behind trusted proxies, the one the first proxy was sent to). */
export function serviceOrigin(request: Request): string {
  return `${request.protocol}://${request.host}`;
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A key in a header wins; without one, the console's session cookie is the credential. A request
 * that changes something with the cookie must also be same-origin and carry the CSRF token.
 */
export async function authenticate(deps: Deps, request: Request): Promise<Principal> {
  const credential = readCredential(request);
  if (!credential) {
    const sessionId = readSessionCookie(request.headers);
    if (sessionId !== null) return authenticateSession(deps, request, sessionId);
    throw new ApiError(
      'unauthenticated',
      'Send a service-account key as "Authorization: Bearer mcpstack_sk_…" or "X-API-Key: mcpstack_sk_…"',
    );
  }
  if (isOperatorToken(credential, deps.env.MCPSTACK_ADMIN_TOKEN)) return { kind: 'operator' };
  if (credential.startsWith(publishableKeyPrefix)) {
    throw new ApiError(
      'invalid_api_key',
      'Publishable keys (mcpstack_pk_…) only work with the chat API; the management API takes a service-account key (mcpstack_sk_…)',
    );
  }
  const principal = await authenticateSecretKey(deps, credential);
  if (!principal) throw new ApiError('invalid_api_key', 'The API key is invalid, expired or revoked');
  return principal;
}

async function authenticateSession(deps: Deps, request: Request, sessionId: string): Promise<Principal> {
  // The origin check comes first: a cross-site request learns nothing, not even whether the session lives.
  if (!safeMethods.has(request.method)) requireSameOrigin(request.headers, serviceOrigin(request));
  const resolved = await resolveConsoleSession(deps, sessionId);
  if (!resolved) {
    throw new ApiError(
      'session_expired',
      'The console session expired, was signed out, or its key was revoked: sign in again',
    );
  }
  if (
    !safeMethods.has(request.method) &&
    !csrfTokenMatches(resolved.session, readCsrfToken(request.headers))
  ) {
    throw new ApiError('csrf_token_invalid', "Send the session's CSRF token in the X-CSRF-Token header");
  }
  return resolved.principal;
}
