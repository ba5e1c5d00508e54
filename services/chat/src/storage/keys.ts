/**
 * Every Redis key the service uses is named here, and nowhere else.
 *
 * All keys of one organization carry the hash tag `{orgId}`, so every multi-key Lua script of an
 * organization touches one slot and the service runs unchanged on Redis Cluster. The few global
 * keys (slug and key-lookup indexes) are only ever touched by single-key commands.
 */
export type Collection = 'api-key' | 'agent' | 'mcp-server';

export interface OrganizationKeys {
  record: string;
  entity(collection: Collection, id: string): string;
  index(collection: Collection): string;
  unique(collection: Collection, field: string): string;
  mcpTools(serverId: string): string;
}

export interface Keys {
  prefix: string;
  organizationsIndex: string;
  organizationSlug(slug: string): string;
  apiKeyLookup(clientId: string): string;
  organization(organizationId: string): OrganizationKeys;
}

export function createKeys(prefix: string): Keys {
  if (/[{}]/.test(prefix)) throw new Error('The Redis key prefix must not contain braces');
  return {
    prefix,
    organizationsIndex: `${prefix}organizations`,
    organizationSlug: (slug) => `${prefix}organization-slug:${slug}`,
    apiKeyLookup: (clientId) => `${prefix}api-key-lookup:${clientId}`,
    organization(organizationId) {
      const base = `${prefix}{${organizationId}}`;
      return {
        record: `${base}:organization`,
        entity: (collection, id) => `${base}:${collection}:${id}`,
        index: (collection) => `${base}:${collection}:index`,
        unique: (collection, field) => `${base}:${collection}:unique:${field}`,
        mcpTools: (serverId) => `${base}:mcp-server:${serverId}:tools`,
      };
    },
  };
}
