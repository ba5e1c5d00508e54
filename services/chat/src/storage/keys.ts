/**
 * Every Redis key the service uses is named here, and nowhere else.
 *
 * All keys of one organization carry the hash tag `{orgId}`, so every multi-key Lua script of an
 * organization touches one slot and the service runs unchanged on Redis Cluster. The few global
 * keys (slug and key-lookup indexes, embed-origin sets) are only ever touched by single-key commands.
 */
export type Collection = 'api-key' | 'agent' | 'mcp-server' | 'embed-key';

export interface OrganizationKeys {
  record: string;
  entity(collection: Collection, id: string): string;
  index(collection: Collection): string;
  unique(collection: Collection, field: string): string;
  mcpTools(serverId: string): string;
  /** Hash: the conversation's owner, agent, title and counters. */
  conversation(conversationId: string): string;
  /** List: the conversation's UI messages as JSON, oldest first. */
  conversationMessages(conversationId: string): string;
  /** Sorted set: an agent's conversation ids scored by last activity (ms). */
  agentConversations(agentId: string): string;
  /** String: one LLM-call record as JSON. */
  llmCall(callId: string): string;
  /** Sorted set, all scores 0: an agent's LLM-call ids (time-sortable), paged by lex range. */
  agentLlmCalls(agentId: string): string;
}

export interface Keys {
  prefix: string;
  organizationsIndex: string;
  organizationSlug(slug: string): string;
  apiKeyLookup(clientId: string): string;
  /** String: an embed key's lookup JSON, by its full public key (global: the chat API has no org yet). */
  embedKeyLookup(publicKey: string): string;
  /** Set: the ids of the embed keys allowing this normalized origin, for CORS preflights (global). */
  embedOrigin(origin: string): string;
  organization(organizationId: string): OrganizationKeys;
}

export function createKeys(prefix: string): Keys {
  if (/[{}]/.test(prefix)) throw new Error('The Redis key prefix must not contain braces');
  return {
    prefix,
    organizationsIndex: `${prefix}organizations`,
    organizationSlug: (slug) => `${prefix}organization-slug:${slug}`,
    apiKeyLookup: (clientId) => `${prefix}api-key-lookup:${clientId}`,
    embedKeyLookup: (publicKey) => `${prefix}embed-key-lookup:${publicKey}`,
    embedOrigin: (origin) => `${prefix}embed-origin:${origin}`,
    organization(organizationId) {
      const base = `${prefix}{${organizationId}}`;
      return {
        record: `${base}:organization`,
        entity: (collection, id) => `${base}:${collection}:${id}`,
        index: (collection) => `${base}:${collection}:index`,
        unique: (collection, field) => `${base}:${collection}:unique:${field}`,
        mcpTools: (serverId) => `${base}:mcp-server:${serverId}:tools`,
        conversation: (conversationId) => `${base}:conversation:${conversationId}`,
        conversationMessages: (conversationId) => `${base}:conversation:${conversationId}:messages`,
        agentConversations: (agentId) => `${base}:agent:${agentId}:conversations`,
        llmCall: (callId) => `${base}:llm-call:${callId}`,
        agentLlmCalls: (agentId) => `${base}:agent:${agentId}:llm-calls`,
      };
    },
  };
}
