import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { ApiError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Page, PageRequest } from '../storage/collection.ts';
import { type EmbedKeyLookupRecord, type EmbedKeyRecord, embedKeyLookupRecord } from '../storage/records.ts';
import { publishableKeyPrefix } from './auth/api-keys.ts';
import { randomHex } from './crypto.ts';
import { originProblem } from './embed-origins.ts';
import { verifiedDomainsOf } from './verified-domains.ts';

export const publicKeyPattern = /^mcpstack_pk_[0-9a-f]{32}$/;
export const maxAllowedOrigins = 50;
const defaultName = 'Embed key';
const originMessage =
  'must be an origin like https://app.example.com (scheme, host and optional port only; no path, wildcard or null)';

/**
 * What may stand where the origin's authority is: no path beyond a lone `/`, no query, fragment,
 * credentials, wildcard, percent-escape or whitespace. Checked on the raw text because WHATWG URL
 * would silently repair some of them (`https://a.com/x/..` becomes `https://a.com/`, tabs vanish).
 */
const rawOriginShape = /^https?:\/\/[^/?#\\@*%\s]+\/?$/i;
/** A DNS name (punycode already) or a bracketed IPv6 address; no empty label, no `{}` hash tags. */
const hostShape = /^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])$/;

/**
 * The one origin rule, shared by the management API (allowedOrigins) and the chat API (the
 * request's `Origin` header), so both sides compare the same strings: lowercase scheme and host,
 * punycode for IDN hosts, no default port, no trailing dot or slash. Null when it is not an exact
 * http(s) origin.
 */
export function normalizeOrigin(raw: string): string | null {
  if (!rawOriginShape.test(raw)) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return null;
  if (url.pathname !== '/') return null;
  const host = url.hostname.endsWith('.') ? url.hostname.slice(0, -1) : url.hostname;
  if (!hostShape.test(host)) return null;
  return `${url.protocol}//${host}${url.port === '' ? '' : `:${url.port}`}`;
}

const originInput = z
  .string()
  .max(2048)
  .transform((value, context) => {
    const origin = normalizeOrigin(value.trim());
    if (origin === null) {
      context.addIssue({ code: 'custom', message: originMessage, input: value });
      return z.NEVER;
    }
    return origin;
  })
  .describe('An exact origin: http(s), host, optional port; e.g. https://app.example.com.');

export const createEmbedKeyInput = z
  .object({
    name: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .optional()
      .describe(`A label for people; "${defaultName}" if absent.`),
    allowedOrigins: z
      .array(originInput)
      .min(1)
      .max(maxAllowedOrigins)
      .transform((origins) => [...new Set(origins)])
      .describe(
        `The websites (1-${maxAllowedOrigins}) whose pages may use the key, compared exactly with the browser's Origin. ` +
          'Stored normalized: lowercase, punycode host, no default port, no trailing dot or slash; duplicates collapsed.',
      ),
  })
  .strict();

export interface EmbedKeyView {
  id: string;
  agentId: string;
  name: string;
  publicKey: string;
  allowedOrigins: string[];
  createdAt: string;
}

export function viewEmbedKey(record: EmbedKeyRecord): EmbedKeyView {
  return {
    id: record.id,
    agentId: record.agentId,
    name: record.name,
    publicKey: record.publicKey,
    allowedOrigins: record.allowedOrigins,
    createdAt: record.createdAt,
  };
}

/** What the chat API learns from a public key (the stored lookup entry). */
export interface EmbedKeyLookup {
  id: string;
  organizationId: string;
  agentId: string;
  allowedOrigins: string[];
}

type LookupDeps = Pick<Deps, 'redis' | 'keys'>;
type EmbedKeyDeps = Pick<Deps, 'redis' | 'keys' | 'clock' | 'stores' | 'env'>;

async function requireAgent(deps: EmbedKeyDeps, organizationId: string, agentId: string): Promise<void> {
  const agent = await deps.stores.agents.get(organizationId, agentId);
  if (!agent) throw new ApiError('agent_not_found', `No agent ${agentId} in this organization`);
}

/**
 * Global keys live in other slots than the organization's (and than each other), so each is
 * touched by its own single-key command, never one multi-key command.
 */
async function addOrigins(deps: LookupDeps, keyId: string, origins: readonly string[]): Promise<void> {
  await Promise.all(origins.map((origin) => deps.redis.sadd(deps.keys.embedOrigin(origin), keyId)));
}

async function removeOrigins(deps: LookupDeps, keyId: string, origins: readonly string[]): Promise<void> {
  await Promise.all(origins.map((origin) => deps.redis.srem(deps.keys.embedOrigin(origin), keyId)));
}

/**
 * Creates a key in three writes that cannot share a script (three slots): origins first, so a
 * preflight never refuses an origin whose key already works; then the lookup, which makes the key
 * live; then the entity. A crash in between leaves at worst an origin-set member without a key,
 * which only lets a CORS preflight through; the request itself still needs a live key.
 */
export async function createEmbedKey(
  deps: EmbedKeyDeps,
  organizationId: string,
  agentId: string,
  input: z.infer<typeof createEmbedKeyInput>,
  createdBy: string,
): Promise<EmbedKeyView> {
  await requireAgent(deps, organizationId, agentId);
  await assertOriginsVerified(deps, organizationId, agentId, input.allowedOrigins);
  const id = newId('embedKey');
  await addOrigins(deps, id, input.allowedOrigins);
  try {
    // 128 random bits never collide in practice; SET NX makes "never" certain.
    for (let attempt = 0; attempt < 5; attempt++) {
      const record: EmbedKeyRecord = {
        id,
        organizationId,
        agentId,
        name: input.name ?? defaultName,
        publicKey: `${publishableKeyPrefix}${randomHex(16)}`,
        allowedOrigins: input.allowedOrigins,
        createdAt: deps.clock.now().toISOString(),
        createdBy,
      };
      const lookupKey = deps.keys.embedKeyLookup(record.publicKey);
      const lookup: EmbedKeyLookupRecord = embedKeyLookupRecord.parse(record);
      if ((await deps.redis.set(lookupKey, JSON.stringify(lookup), 'NX')) !== 'OK') continue;
      try {
        await deps.stores.embedKeys.create(organizationId, record);
      } catch (error) {
        await deps.redis.del(lookupKey).catch(() => undefined);
        throw error;
      }
      // The agent may have been deleted since the check above; deleteAgent sweeps keys after removing
      // the agent, so either it sees this key or this check sees the agent gone.
      if (!(await deps.stores.agents.get(organizationId, agentId))) {
        await revokeRecord(deps, record);
        throw new ApiError('agent_not_found', `No agent ${agentId} in this organization`);
      }
      return viewEmbedKey(record);
    }
    throw new Error('Could not draw an unused embed public key');
  } catch (error) {
    await removeOrigins(deps, id, input.allowedOrigins).catch(() => undefined);
    throw error;
  }
}

/** Every allowed origin must be https on a verified domain of the agent (or local, when allowed). */
async function assertOriginsVerified(
  deps: EmbedKeyDeps,
  organizationId: string,
  agentId: string,
  origins: readonly string[],
): Promise<void> {
  if (!deps.env.MCPSTACK_REQUIRE_VERIFIED_DOMAINS) return;
  const verified = await verifiedDomainsOf(deps, organizationId, agentId);
  const issues = origins.flatMap((origin, index) => {
    const problem = originProblem(deps.env, origin, verified);
    return problem ? [{ path: `body.allowedOrigins[${index}]`, message: problem }] : [];
  });
  if (issues.length > 0) {
    throw new ApiError(
      'origin_not_verified',
      issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '),
      {
        issues,
      },
    );
  }
}

/** The agent's keys, oldest first. Keys are few per organization, so one scan pages them. */
export async function listEmbedKeys(
  deps: EmbedKeyDeps,
  organizationId: string,
  agentId: string,
  page: PageRequest,
): Promise<Page<EmbedKeyView>> {
  await requireAgent(deps, organizationId, agentId);
  const all = await deps.stores.embedKeys.all(organizationId);
  const after = all.filter((key) => key.agentId === agentId && (!page.cursor || key.id > page.cursor));
  const data = after.slice(0, page.limit);
  return {
    data: data.map(viewEmbedKey),
    nextCursor: after.length > page.limit ? (data.at(-1)?.id ?? null) : null,
  };
}

/**
 * The entity first: admission refuses a key without one (`confirmEmbedKey`, `chat-admit.lua`), so the
 * key fails on its very next request, also in processes that remember its lookup; then the lookup;
 * then the origins.
 */
async function revokeRecord(deps: EmbedKeyDeps, record: EmbedKeyRecord): Promise<void> {
  await deps.stores.embedKeys.remove(record.organizationId, record.id);
  await deps.redis.del(deps.keys.embedKeyLookup(record.publicKey));
  await removeOrigins(deps, record.id, record.allowedOrigins);
}

export async function revokeEmbedKey(
  deps: EmbedKeyDeps,
  organizationId: string,
  agentId: string,
  keyId: string,
): Promise<void> {
  await requireAgent(deps, organizationId, agentId);
  const record = await deps.stores.embedKeys.get(organizationId, keyId);
  if (!record || record.agentId !== agentId) {
    throw new ApiError('embed_key_not_found', `No embed key ${keyId} for agent ${agentId}`);
  }
  await revokeRecord(deps, record);
}

/** Revokes every key of an agent (the agent is being deleted). */
export async function revokeAgentEmbedKeys(
  deps: EmbedKeyDeps,
  organizationId: string,
  agentId: string,
): Promise<void> {
  const keys = await deps.stores.embedKeys.all(organizationId);
  for (const key of keys) if (key.agentId === agentId) await revokeRecord(deps, key);
}

/**
 * The organization is being deleted: its global keys (lookups, origin-set members) are not under
 * its hash tag, so the purge of its slot would miss them. Its own keys go with that purge.
 */
export async function forgetOrganizationEmbedKeys(
  deps: Pick<Deps, 'redis' | 'keys' | 'stores'>,
  organizationId: string,
): Promise<void> {
  const keys = await deps.stores.embedKeys.all(organizationId);
  await Promise.all(keys.map((key) => deps.redis.del(deps.keys.embedKeyLookup(key.publicKey))));
  await Promise.all(keys.map((key) => removeOrigins(deps, key.id, key.allowedOrigins)));
}

/**
 * null when the key does not exist or was revoked. One GET; a key found here is live only while its
 * entity exists (revocation deletes that first), which admission checks on every request.
 */
export async function findEmbedKey(deps: LookupDeps, publicKey: string): Promise<EmbedKeyLookup | null> {
  if (!publicKeyPattern.test(publicKey)) return null;
  const raw = await deps.redis.get(deps.keys.embedKeyLookup(publicKey));
  return raw === null ? null : embedKeyLookupRecord.parse(JSON.parse(raw));
}

/**
 * Whether any live embed key allows this (normalized) origin: for CORS preflights, which carry no
 * key. One EXISTS (Redis deletes a set when its last member goes).
 */
export async function isOriginAllowedByAnyKey(deps: LookupDeps, origin: string): Promise<boolean> {
  return (await deps.redis.exists(deps.keys.embedOrigin(origin))) === 1;
}
