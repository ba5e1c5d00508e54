import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { ApiError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Page, PageRequest } from '../storage/collection.ts';
import { type OrganizationRecord, organizationRecord } from '../storage/records.ts';
import { grantStarterCredits } from './credits/adjustments.ts';
import { forgetOrganizationEmbedKeys } from './embed-keys.ts';

export const slugSchema = z
  .string()
  .regex(
    /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/,
    'must be 1-64 lowercase letters, digits or hyphens, starting and ending with a letter or digit',
  );

export const createOrganizationInput = z
  .object({ name: z.string().trim().min(1).max(200), slug: slugSchema })
  .strict();
export const updateOrganizationInput = createOrganizationInput.partial().strict();

export interface OrganizationView extends OrganizationRecord {
  agentCount: number;
  mcpServerCount: number;
  apiKeyCount: number;
}

type OrganizationDeps = Pick<Deps, 'redis' | 'scripts' | 'keys' | 'clock' | 'stores' | 'logger' | 'env'>;

export async function getOrganizationRecord(deps: OrganizationDeps, organizationId: string) {
  const raw = await deps.redis.get(deps.keys.organization(organizationId).record);
  return raw === null ? null : organizationRecord.parse(JSON.parse(raw));
}

export async function requireOrganization(deps: OrganizationDeps, organizationId: string) {
  const organization = await getOrganizationRecord(deps, organizationId);
  if (!organization) throw new ApiError('organization_not_found', `No organization ${organizationId}`);
  return organization;
}

export async function viewOrganization(
  deps: OrganizationDeps,
  organization: OrganizationRecord,
): Promise<OrganizationView> {
  const [agentCount, mcpServerCount, apiKeyCount] = await Promise.all([
    deps.stores.agents.count(organization.id),
    deps.stores.mcpServers.count(organization.id),
    deps.stores.apiKeys.count(organization.id),
  ]);
  return { ...organization, agentCount, mcpServerCount, apiKeyCount };
}

/**
 * The slug index is a global key and the organization lives in its own slot, so they cannot share
 * one script: the slug is claimed first (SET NX decides races), then the organization written.
 */
export async function createOrganization(
  deps: OrganizationDeps,
  input: z.infer<typeof createOrganizationInput>,
): Promise<OrganizationRecord> {
  const now = deps.clock.now().toISOString();
  const organization: OrganizationRecord = {
    id: newId('organization'),
    slug: input.slug,
    name: input.name,
    planTier: 'free',
    createdOn: now,
    updatedAt: now,
  };
  const claimed = await deps.redis.set(deps.keys.organizationSlug(input.slug), organization.id, 'NX');
  if (claimed !== 'OK') throw new ApiError('slug_taken', `The slug "${input.slug}" is already taken`);
  try {
    await deps.redis.set(deps.keys.organization(organization.id).record, JSON.stringify(organization));
    await deps.redis.zadd(deps.keys.organizationsIndex, 0, organization.id);
    await grantStarterCredits(deps, organization.id);
  } catch (error) {
    await deps.redis.del(deps.keys.organizationSlug(input.slug)).catch(() => undefined);
    throw error;
  }
  return organization;
}

export async function listAllOrganizations(
  deps: OrganizationDeps,
  page: PageRequest,
): Promise<Page<OrganizationRecord>> {
  const start = page.cursor ? `(${page.cursor}` : '-';
  const ids = await deps.redis.zrangebylex(
    deps.keys.organizationsIndex,
    start,
    '+',
    'LIMIT',
    0,
    page.limit + 1,
  );
  const pageIds = ids.slice(0, page.limit);
  const records = await Promise.all(pageIds.map((id) => getOrganizationRecord(deps, id)));
  return {
    data: records.filter((record): record is OrganizationRecord => record !== null),
    nextCursor: ids.length > page.limit ? (pageIds.at(-1) ?? null) : null,
  };
}

export async function updateOrganization(
  deps: OrganizationDeps,
  organizationId: string,
  input: z.infer<typeof updateOrganizationInput>,
): Promise<OrganizationRecord> {
  const current = await requireOrganization(deps, organizationId);
  const next: OrganizationRecord = {
    ...current,
    ...(input.name !== undefined && { name: input.name }),
    ...(input.slug !== undefined && { slug: input.slug }),
    updatedAt: deps.clock.now().toISOString(),
  };
  if (next.slug !== current.slug) {
    const claimed = await deps.redis.set(deps.keys.organizationSlug(next.slug), organizationId, 'NX');
    if (claimed !== 'OK') throw new ApiError('slug_taken', `The slug "${next.slug}" is already taken`);
  }
  await deps.redis.set(deps.keys.organization(organizationId).record, JSON.stringify(next));
  if (next.slug !== current.slug) await deps.redis.del(deps.keys.organizationSlug(current.slug));
  return next;
}

/**
 * Deleting makes the organization invisible and its keys useless first (record, key lookups,
 * slug, index), then purges every key carrying its hash tag, on every master of a cluster.
 */
export async function deleteOrganization(deps: OrganizationDeps, organizationId: string): Promise<void> {
  const organization = await requireOrganization(deps, organizationId);
  const apiKeys = await deps.stores.apiKeys.all(organizationId);
  await deps.redis.del(deps.keys.organization(organizationId).record);
  // Global keys live in different cluster slots: one DEL each, never one multi-key DEL.
  await Promise.all(apiKeys.map((key) => deps.redis.del(deps.keys.apiKeyLookup(key.clientId))));
  await forgetOrganizationEmbedKeys(deps, organizationId);
  await deps.redis.del(deps.keys.organizationSlug(organization.slug));
  await deps.redis.zrem(deps.keys.organizationsIndex, organizationId);
  await purgeOrganizationKeys(deps, organizationId);
  deps.logger.info({ organizationId }, 'organization deleted');
}

async function purgeOrganizationKeys(deps: OrganizationDeps, organizationId: string): Promise<void> {
  const pattern = `${deps.keys.prefix}{${organizationId}}*`;
  const nodes = 'nodes' in deps.redis ? deps.redis.nodes('master') : [deps.redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (found.length > 0) await node.unlink(...found);
    } while (cursor !== '0');
  }
}
