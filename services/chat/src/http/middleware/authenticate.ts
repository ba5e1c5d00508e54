import type { Request } from 'express';
import type { Deps } from '../../deps.ts';
import { authenticateSecretKey, isOperatorToken, publishableKeyPrefix } from '../../domain/auth/api-keys.ts';
import type { Principal } from '../../domain/auth/permissions.ts';
import { ApiError } from '../../errors.ts';

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

export async function authenticate(deps: Deps, request: Request): Promise<Principal> {
  const credential = readCredential(request);
  if (!credential) {
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
