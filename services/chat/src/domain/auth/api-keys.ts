import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Page, PageRequest } from '../../storage/collection.ts';
import { type ApiKeyLookupRecord, type ApiKeyRecord, apiKeyLookupRecord } from '../../storage/records.ts';
import { hashSecret, randomHex, safeEqualHex } from '../crypto.ts';
import { type Principal, type RoleKey, roleKeys, roles } from './permissions.ts';

export const secretKeyPrefix = 'mcpstack_sk_';
export const publishableKeyPrefix = 'mcpstack_pk_';
const secretKeyPattern = /^mcpstack_sk_([0-9a-f]{8})_([0-9a-f]{32})$/;

export const createApiKeyInput = z
  .object({
    name: z.string().trim().min(1).max(200),
    role: z.enum(roleKeys).optional().describe('The role of the key; defaults to viewer.'),
    roleKey: z.enum(roleKeys).optional().describe('Same as role (the name the responses use).'),
    expiresAt: z.iso
      .datetime({ offset: true })
      .nullable()
      .optional()
      .describe('When the key stops working (ISO 8601); null or absent for never.'),
  })
  .strict()
  .refine((input) => !input.role || !input.roleKey || input.role === input.roleKey, {
    message: 'role and roleKey disagree: send one of them',
    path: ['roleKey'],
  })
  .transform(({ role, roleKey, ...rest }) => ({ ...rest, roleKey: role ?? roleKey ?? 'viewer' }));

export interface ApiKeyView {
  id: string;
  name: string;
  clientId: string;
  role: RoleKey;
  roleKey: RoleKey;
  roleName: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export function viewApiKey(record: ApiKeyRecord, lastUsedAt: string | null = null): ApiKeyView {
  return {
    id: record.id,
    name: record.name,
    clientId: `${secretKeyPrefix}${record.clientId}`,
    role: record.roleKey,
    roleKey: record.roleKey,
    roleName: roles[record.roleKey].name,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    lastUsedAt,
  };
}

/** How often a key's last-used time is written, at most (the API keys page shows it to the minute). */
export const lastUsedResolutionSeconds = 60;

/**
 * Notes that a key authenticated a request. The first use in a minute claims a gate key
 * (SET NX EX 60) and alone writes the time, on every replica together: a busy key costs one
 * no-op SET per request and one HSET per minute, never a write per request.
 */
export async function recordApiKeyUse(
  deps: Pick<Deps, 'redis' | 'keys' | 'clock'>,
  organizationId: string,
  keyId: string,
): Promise<void> {
  const keys = deps.keys.organization(organizationId);
  const first = await deps.redis.set(
    keys.apiKeyLastUsedGate(keyId),
    '1',
    'EX',
    lastUsedResolutionSeconds,
    'NX',
  );
  if (first === 'OK') await deps.redis.hset(keys.apiKeyLastUsed, keyId, deps.clock.now().toISOString());
}

type ApiKeyDeps = Pick<Deps, 'redis' | 'keys' | 'clock' | 'stores'>;

/** Creates a key; its full secret is in the result and nowhere else, ever (only its hash is stored). */
export async function createApiKey(
  deps: ApiKeyDeps,
  organizationId: string,
  input: z.infer<typeof createApiKeyInput>,
  createdBy: string,
): Promise<{ key: ApiKeyView; fullKey: string }> {
  const now = deps.clock.now();
  if (input.expiresAt && Date.parse(input.expiresAt) <= now.getTime()) {
    throw new ApiError('validation_failed', 'expiresAt: must be in the future');
  }
  // 32 bits of client id collide rarely; SET NX detects it and we draw again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const clientId = randomHex(4);
    const fullKey = `${secretKeyPrefix}${clientId}_${randomHex(16)}`;
    const record: ApiKeyRecord = {
      id: newId('apiKey'),
      organizationId,
      name: input.name,
      clientId,
      roleKey: input.roleKey,
      secretHash: hashSecret(fullKey),
      createdAt: now.toISOString(),
      expiresAt: input.expiresAt ? new Date(input.expiresAt).toISOString() : null,
      createdBy,
    };
    const lookup: ApiKeyLookupRecord = apiKeyLookupRecord.parse(record);
    const claimed = await deps.redis.set(deps.keys.apiKeyLookup(clientId), JSON.stringify(lookup), 'NX');
    if (claimed !== 'OK') continue;
    try {
      await deps.stores.apiKeys.create(organizationId, record);
    } catch (error) {
      await deps.redis.del(deps.keys.apiKeyLookup(clientId)).catch(() => undefined);
      throw error;
    }
    return { key: viewApiKey(record), fullKey };
  }
  throw new Error('Could not draw an unused API-key client id');
}

export async function listApiKeys(
  deps: ApiKeyDeps,
  organizationId: string,
  page: PageRequest,
): Promise<Page<ApiKeyView>> {
  const result = await deps.stores.apiKeys.list(organizationId, page);
  const ids = result.data.map((record) => record.id);
  const lastUsed =
    ids.length === 0
      ? []
      : await deps.redis.hmget(deps.keys.organization(organizationId).apiKeyLastUsed, ...ids);
  return {
    data: result.data.map((record, index) => viewApiKey(record, lastUsed[index] ?? null)),
    nextCursor: result.nextCursor,
  };
}

/** Revocation deletes the lookup first: the very next request with the key fails. */
export async function revokeApiKey(deps: ApiKeyDeps, organizationId: string, keyId: string): Promise<void> {
  const record = await deps.stores.apiKeys.get(organizationId, keyId);
  if (!record) throw new ApiError('api_key_not_found', `No API key ${keyId} in this organization`);
  await deps.redis.del(deps.keys.apiKeyLookup(record.clientId));
  await deps.stores.apiKeys.remove(organizationId, keyId);
  await deps.redis.hdel(deps.keys.organization(organizationId).apiKeyLastUsed, keyId);
}

/**
 * Resolves a presented service-account key to its principal, or null. One GET, no cache: a
 * revoked key fails on its very next request, on every replica.
 */
export async function authenticateSecretKey(deps: ApiKeyDeps, presented: string): Promise<Principal | null> {
  const match = secretKeyPattern.exec(presented);
  if (!match) return null;
  const raw = await deps.redis.get(deps.keys.apiKeyLookup(match[1]!));
  if (raw === null) return null;
  const lookup = apiKeyLookupRecord.parse(JSON.parse(raw));
  if (!safeEqualHex(lookup.secretHash, hashSecret(presented))) return null;
  if (lookup.expiresAt !== null && Date.parse(lookup.expiresAt) <= deps.clock.now().getTime()) return null;
  return servicePrincipalOf(lookup);
}

/** Who acts with a service-account key: its organization, its key and the key's role. */
export function servicePrincipalOf(
  lookup: ApiKeyLookupRecord,
): Extract<Principal, { kind: 'service_account' }> {
  return {
    kind: 'service_account',
    organizationId: lookup.organizationId,
    keyId: lookup.id,
    clientId: `${secretKeyPrefix}${lookup.clientId}`,
    name: lookup.name,
    roleKey: lookup.roleKey,
  };
}

export function isOperatorToken(presented: string, adminToken: string): boolean {
  return safeEqualHex(hashSecret(presented), hashSecret(adminToken));
}
