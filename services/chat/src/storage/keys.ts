/**
 * Every Redis key the service uses is named here, and nowhere else.
 *
 * All keys of one organization carry the hash tag `{orgId}`, so every multi-key Lua script of an
 * organization touches one slot and the service runs unchanged on Redis Cluster. The few global
 * keys (slug and key-lookup indexes, embed-origin sets) are only ever touched by single-key commands.
 */
export type Collection =
  | 'api-key'
  | 'agent'
  | 'mcp-server'
  | 'embed-key'
  | 'verified-domain'
  | 'webhook-endpoint';

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
  /** String: `<instance> <answer id>` of the conversation's answer streaming now (expires with it). */
  conversationLiveAnswer(conversationId: string): string;
  /** Sorted set: an agent's conversation ids scored by last activity (ms). */
  agentConversations(agentId: string): string;
  /** Hash: how the agent verifies user tokens (sealed HS256 secret, public key or JWKS URL). */
  agentIdentity(agentId: string): string;
  /** Set: an agent's verified domains (normalized), read by the chat API on every request. */
  agentVerifiedDomains(agentId: string): string;
  /** Hash: a token bucket (`tokens`, `at`) of one rate-limit scope. */
  rateBucket(scope: string): string;
  /** Sorted set: a visitor's open chat streams scored by their lease expiry (ms). */
  visitorStreams(agentId: string, visitorId: string): string;
  /** Hash: an agent's budget settings (caps in micro-USD, reset day). */
  agentBudget(agentId: string): string;
  /** Hash: per-user cap overrides of an agent, external user id → micro-USD. */
  agentUserCaps(agentId: string): string;
  /**
   * Hash: an agent's spend of one budget period, what its caps and alerts read: `agent`, `anon` and
   * `u:<user>` (micro-USD). The usage reports add up the LLM calls in PostgreSQL instead.
   */
  agentSpend(agentId: string, period: string): string;
  /** Set: every identified user an agent has seen (the budget's `trackedUserCount`). */
  agentUsers(agentId: string): string;
  /** Hash: micro-USD held by open reservations, per scope field (`agent:<id>`, `credits`, …). */
  budgetReserved: string;
  /** Sorted set: open reservation ids scored by their expiry (ms). */
  budgetReservations: string;
  /** Hash: what each open reservation holds, so its release is exact. */
  budgetReservationData: string;
  /** String: the call that charged this hold at its expiry (a late settle of the hold books nothing more). */
  budgetExpiredHold(holdId: string): string;
  /** Hash: the AI-credit balance and its running totals, in micro-USD. */
  credits: string;
  /** Hash: the organization's credit settings (`lowBalanceMicros`), kept apart from the rebuildable totals. */
  creditSettings: string;
  /**
   * Stream: the history outbox. The scripts that move money append the ledger entries, LLM-call
   * records and processed Stripe events here in the same step; the drainer moves them to
   * PostgreSQL (the system of record for history), then acknowledges and deletes them.
   */
  historyOutbox: string;
  /** Hash: Stripe Checkout Session id → its record JSON (amount, status, credited, refunded). */
  stripeCheckoutSessions: string;
  /** Hash: service-account key id → when it was last used (ISO), written at most once a minute per key. */
  apiKeyLastUsed: string;
  /** String with a 60 s TTL: set by the first use of a key in a minute, which alone writes apiKeyLastUsed. */
  apiKeyLastUsedGate(keyId: string): string;
  /** Hash: the budget alerts an agent fired in one period, `scope:user:threshold:cap` → when (HSETNX: once). */
  agentAlertMarkers(agentId: string, period: string): string;
  /** Stream: the organization's events (budget alerts, credits, overage), the webhook outbox. */
  webhookOutbox: string;
  /** String with a TTL: one webhook delivery's record JSON (status, attempts). */
  webhookDelivery(deliveryId: string): string;
  /** String with a TTL: the delivery of an event to an endpoint, so a re-read outbox entry fans out once. */
  webhookFanout(eventId: string, endpointId: string): string;
  /** Sorted set: an endpoint's delivery ids scored by creation (ms), newest kept, bounded. */
  webhookEndpointDeliveries(endpointId: string): string;
  /** Sorted set: delivery ids due for an attempt, scored by the attempt's time (ms). */
  webhookSchedule: string;
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
  /** String: a Stripe PaymentIntent's organization and Checkout Session, so a refund finds its purchase (global). */
  stripePaymentIntent(paymentIntentId: string): string;
  /** String: the organization that started a Stripe Checkout Session (global: an event names no trusted organization). */
  stripeCheckoutSession(sessionId: string): string;
  /** Set: organizations with webhook endpoints, which the delivery worker polls (global). */
  webhookOrganizations: string;
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
    stripePaymentIntent: (paymentIntentId) => `${prefix}stripe-payment-intent:${paymentIntentId}`,
    stripeCheckoutSession: (sessionId) => `${prefix}stripe-checkout-session:${sessionId}`,
    webhookOrganizations: `${prefix}webhook-organizations`,
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
        conversationLiveAnswer: (conversationId) => `${base}:conversation:${conversationId}:live`,
        agentConversations: (agentId) => `${base}:agent:${agentId}:conversations`,
        agentIdentity: (agentId) => `${base}:agent:${agentId}:identity`,
        agentVerifiedDomains: (agentId) => `${base}:agent:${agentId}:verified-domains`,
        rateBucket: (scope) => `${base}:rate:${scope}`,
        visitorStreams: (agentId, visitorId) => `${base}:agent:${agentId}:streams:${visitorId}`,
        agentBudget: (agentId) => `${base}:agent:${agentId}:budget`,
        agentUserCaps: (agentId) => `${base}:agent:${agentId}:user-caps`,
        agentSpend: (agentId, period) => `${base}:agent:${agentId}:spend:${period}`,
        agentUsers: (agentId) => `${base}:agent:${agentId}:users`,
        budgetReserved: `${base}:budget:reserved`,
        budgetReservations: `${base}:budget:reservations`,
        budgetReservationData: `${base}:budget:reservation-data`,
        budgetExpiredHold: (holdId) => `${base}:budget:expired-hold:${holdId}`,
        credits: `${base}:credits`,
        creditSettings: `${base}:credits:settings`,
        historyOutbox: `${base}:history:outbox`,
        stripeCheckoutSessions: `${base}:stripe:checkout-sessions`,
        apiKeyLastUsed: `${base}:api-key:last-used`,
        apiKeyLastUsedGate: (keyId) => `${base}:api-key:${keyId}:last-used-gate`,
        agentAlertMarkers: (agentId, period) => `${base}:agent:${agentId}:alerts:${period}`,
        webhookOutbox: `${base}:webhook:outbox`,
        webhookDelivery: (deliveryId) => `${base}:webhook:delivery:${deliveryId}`,
        webhookFanout: (eventId, endpointId) => `${base}:webhook:fanout:${eventId}:${endpointId}`,
        webhookEndpointDeliveries: (endpointId) => `${base}:webhook-endpoint:${endpointId}:deliveries`,
        webhookSchedule: `${base}:webhook:schedule`,
      };
    },
  };
}
