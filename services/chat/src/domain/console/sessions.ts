import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { apiKeyLookupRecord } from '../../storage/records.ts';
import { authenticateSecretKey, secretKeyPrefix, servicePrincipalOf } from '../auth/api-keys.ts';
import { type Permission, type Principal, type RoleKey, roles } from '../auth/permissions.ts';
import { hashSecret, randomHex, safeEqualHex } from '../crypto.ts';

/**
 * Console sessions: a service-account key is exchanged once for a random session id that the
 * browser keeps only in an HttpOnly cookie. The key itself never reaches browser storage.
 *
 * - The id is 256 random bits; Redis stores only its SHA-256, so a Redis dump holds no cookie.
 * - A session ends after `idleSeconds` without a request or `maxSeconds` after sign-in, whichever
 *   comes first (the key's TTL is the shorter of the two remaining times, refreshed on each use).
 * - It ends at once on sign-out, and on the next request after its key is revoked or expires:
 *   every use re-reads the key's lookup entry, so the session is never stronger than its key, and
 *   the role in force is the key's role now, not the one at sign-in.
 * - The CSRF token is bound to the session (not to the cookie alone): state-changing requests
 *   carry it in `X-CSRF-Token`; a cross-site page cannot read it, so it cannot forge one.
 */
export const consoleSessionLimits = {
  idleSeconds: 8 * 60 * 60,
  maxSeconds: 24 * 60 * 60,
} as const;

export const consoleSessionRecord = z.object({
  organizationId: z.string(),
  keyId: z.string(),
  /** The key's client id without the `mcpstack_sk_` prefix: the key of its lookup entry. */
  clientId: z.string(),
  csrfToken: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().describe('The absolute end: sign-in + maxSeconds.'),
});
export type ConsoleSessionRecord = z.infer<typeof consoleSessionRecord>;

export const createConsoleSessionInput = z
  .object({
    key: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .describe('A service-account key, mcpstack_sk_…; exchanged once, never stored.'),
  })
  .strict();

type SessionDeps = Pick<Deps, 'redis' | 'keys' | 'clock' | 'stores'>;

/** The session's Redis key, global (single-key commands only): its id is hashed, never stored. */
function sessionKey(deps: Pick<Deps, 'keys'>, sessionId: string): string {
  return `${deps.keys.prefix}console-session:${hashSecret(sessionId)}`;
}

const sessionIdPattern = /^[0-9a-f]{64}$/;

export interface ConsoleSessionView {
  organizationId: string;
  keyId: string;
  keyName: string;
  role: RoleKey;
  permissions: readonly Permission[];
  expiresAt: string;
  csrfToken: string;
}

type ServicePrincipal = Extract<Principal, { kind: 'service_account' }>;

function view(principal: ServicePrincipal, record: ConsoleSessionRecord): ConsoleSessionView {
  return {
    organizationId: principal.organizationId,
    keyId: principal.keyId,
    keyName: principal.name,
    role: principal.roleKey,
    permissions: roles[principal.roleKey].grants,
    expiresAt: record.expiresAt,
    csrfToken: record.csrfToken,
  };
}

/** Exchanges a key for a session; `null` when the key is not a valid service-account key. */
export async function createConsoleSession(
  deps: SessionDeps,
  presentedKey: string,
): Promise<{ sessionId: string; session: ConsoleSessionView; maxAgeSeconds: number } | null> {
  const principal = await authenticateSecretKey(deps, presentedKey);
  if (principal?.kind !== 'service_account') return null;
  const now = deps.clock.now();
  const sessionId = randomHex(32);
  let maxSeconds: number = consoleSessionLimits.maxSeconds;
  const lookup = await deps.redis.get(
    deps.keys.apiKeyLookup(principal.clientId.slice(secretKeyPrefix.length)),
  );
  const keyExpiresAt = lookup === null ? null : apiKeyLookupRecord.parse(JSON.parse(lookup)).expiresAt;
  // A session never outlives its key.
  if (keyExpiresAt !== null) {
    maxSeconds = Math.min(maxSeconds, Math.floor((Date.parse(keyExpiresAt) - now.getTime()) / 1000));
  }
  if (maxSeconds <= 0) return null;
  const record: ConsoleSessionRecord = {
    organizationId: principal.organizationId,
    keyId: principal.keyId,
    clientId: principal.clientId.slice(secretKeyPrefix.length),
    csrfToken: randomHex(32),
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + maxSeconds * 1000).toISOString(),
  };
  await deps.redis.set(
    sessionKey(deps, sessionId),
    JSON.stringify(record),
    'EX',
    Math.min(consoleSessionLimits.idleSeconds, maxSeconds),
  );
  return { sessionId, session: view(principal, record), maxAgeSeconds: maxSeconds };
}

export interface ResolvedConsoleSession {
  principal: ServicePrincipal;
  session: ConsoleSessionView;
}

/**
 * The session behind a cookie value, or `null` when it is unknown, expired, or its key was revoked
 * or has expired (the session is then deleted). Each use pushes the idle expiry forward.
 */
export async function resolveConsoleSession(
  deps: SessionDeps,
  sessionId: string,
): Promise<ResolvedConsoleSession | null> {
  if (!sessionIdPattern.test(sessionId)) return null;
  const key = sessionKey(deps, sessionId);
  const raw = await deps.redis.get(key);
  if (raw === null) return null;
  const record = consoleSessionRecord.parse(JSON.parse(raw));
  const now = deps.clock.now().getTime();
  const lookupRaw = await deps.redis.get(deps.keys.apiKeyLookup(record.clientId));
  const lookup = lookupRaw === null ? null : apiKeyLookupRecord.parse(JSON.parse(lookupRaw));
  const remainingSeconds = Math.floor((Date.parse(record.expiresAt) - now) / 1000);
  if (
    lookup === null ||
    lookup.id !== record.keyId ||
    lookup.organizationId !== record.organizationId ||
    (lookup.expiresAt !== null && Date.parse(lookup.expiresAt) <= now) ||
    remainingSeconds <= 0
  ) {
    await deps.redis.del(key);
    return null;
  }
  await deps.redis.expire(key, Math.min(consoleSessionLimits.idleSeconds, remainingSeconds));
  const principal: ServicePrincipal = { ...servicePrincipalOf(lookup), sessionId };
  return { principal, session: view(principal, record) };
}

/** Whether the presented CSRF token is the session's (constant-time). */
export function csrfTokenMatches(session: ConsoleSessionView, presented: string | undefined): boolean {
  if (presented === undefined || !/^[0-9a-f]{64}$/.test(presented)) return false;
  return safeEqualHex(session.csrfToken, presented);
}

/** Sign-out: the session is gone on every replica at once. */
export async function deleteConsoleSession(
  deps: Pick<Deps, 'redis' | 'keys'>,
  sessionId: string,
): Promise<void> {
  await deps.redis.del(sessionKey(deps, sessionId));
}
