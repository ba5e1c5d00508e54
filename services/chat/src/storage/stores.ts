import { type CollectionStore, createCollectionStore } from './collection.ts';
import type { Keys } from './keys.ts';
import {
  type AgentRecord,
  type ApiKeyRecord,
  agentRecord,
  apiKeyRecord,
  type EmbedKeyRecord,
  embedKeyRecord,
  type McpServerRecord,
  mcpServerRecord,
  type VerifiedDomainRecord,
  verifiedDomainRecord,
  type WebhookEndpointRecord,
  webhookEndpointRecord,
} from './records.ts';
import type { RedisClient } from './redis.ts';
import type { Scripts } from './scripts.ts';

export interface Stores {
  apiKeys: CollectionStore<ApiKeyRecord>;
  agents: CollectionStore<AgentRecord>;
  mcpServers: CollectionStore<McpServerRecord>;
  embedKeys: CollectionStore<EmbedKeyRecord>;
  verifiedDomains: CollectionStore<VerifiedDomainRecord>;
  webhookEndpoints: CollectionStore<WebhookEndpointRecord>;
}

export function createStores(redis: RedisClient, scripts: Scripts, keys: Keys): Stores {
  return {
    apiKeys: createCollectionStore({ redis, scripts, keys, collection: 'api-key', schema: apiKeyRecord }),
    agents: createCollectionStore({ redis, scripts, keys, collection: 'agent', schema: agentRecord }),
    mcpServers: createCollectionStore({
      redis,
      scripts,
      keys,
      collection: 'mcp-server',
      schema: mcpServerRecord,
      uniqueField: 'slug',
    }),
    embedKeys: createCollectionStore({
      redis,
      scripts,
      keys,
      collection: 'embed-key',
      schema: embedKeyRecord,
    }),
    verifiedDomains: createCollectionStore({
      redis,
      scripts,
      keys,
      collection: 'verified-domain',
      schema: verifiedDomainRecord,
    }),
    webhookEndpoints: createCollectionStore({
      redis,
      scripts,
      keys,
      collection: 'webhook-endpoint',
      schema: webhookEndpointRecord,
    }),
  };
}
