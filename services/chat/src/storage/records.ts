import { z } from 'zod';
import { roleKeys } from '../domain/auth/permissions.ts';

/**
 * The shapes stored in Redis. Values read back are parsed with these, so a bad write or an old
 * format fails loudly where it is read instead of somewhere downstream.
 */
export const organizationRecord = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  planTier: z.string(),
  createdOn: z.string(),
  updatedAt: z.string(),
});
export type OrganizationRecord = z.infer<typeof organizationRecord>;

export const apiKeyRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  name: z.string(),
  clientId: z.string(),
  roleKey: z.enum(roleKeys),
  secretHash: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  createdBy: z.string(),
});
export type ApiKeyRecord = z.infer<typeof apiKeyRecord>;

/** The global lookup entry of a key, by client id: everything authentication needs in one GET. */
export const apiKeyLookupRecord = apiKeyRecord.pick({
  id: true,
  organizationId: true,
  name: true,
  clientId: true,
  roleKey: true,
  secretHash: true,
  expiresAt: true,
});
export type ApiKeyLookupRecord = z.infer<typeof apiKeyLookupRecord>;

/** A publishable key: the full key is stored, as it is public by design (it ships in a script tag). */
export const embedKeyRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  agentId: z.string(),
  name: z.string(),
  publicKey: z.string(),
  /** Normalized origins (scheme://host[:port]); the chat API compares the request's Origin exactly. */
  allowedOrigins: z.array(z.string()),
  createdAt: z.string(),
  createdBy: z.string(),
});
export type EmbedKeyRecord = z.infer<typeof embedKeyRecord>;

/** The global lookup entry of an embed key, by public key: everything a chat request needs in one GET. */
export const embedKeyLookupRecord = embedKeyRecord.pick({
  id: true,
  organizationId: true,
  agentId: true,
  allowedOrigins: true,
});
export type EmbedKeyLookupRecord = z.infer<typeof embedKeyLookupRecord>;

export const themeRecord = z.object({
  primaryColor: z.string(),
  position: z.enum(['bottom-right', 'bottom-left']),
  colorScheme: z.enum(['light', 'dark', 'auto']),
});

export const agentRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  model: z.string(),
  instructions: z.string(),
  mcpServerIds: z.array(z.string()),
  temperature: z.number().nullable(),
  maxOutputTokens: z.number().int(),
  maxSteps: z.number().int(),
  welcomeMessage: z.string().nullable(),
  starterPrompts: z.array(z.string()),
  theme: themeRecord,
  /** Per-agent abuse limits; null fields use the service defaults. Absent in agents stored before. */
  rateLimits: z
    .object({
      embedKeyPerMinute: z.number().int().nullable(),
      visitorPerMinute: z.number().int().nullable(),
      ipPerMinute: z.number().int().nullable(),
      maxStreamsPerVisitor: z.number().int().nullable(),
    })
    .default({
      embedKeyPerMinute: null,
      visitorPerMinute: null,
      ipPerMinute: null,
      maxStreamsPerVisitor: null,
    }),
  /** The widget shows the visitor's budget meter. Absent in agents stored before: false. */
  showUsageToUsers: z.boolean().default(false),
  /** Percentages of each cap at which `budget.threshold_reached` fires (and the widget warns). */
  budgetAlertThresholds: z.array(z.number().int()).default([50, 80, 100]),
  /** A tool failing this many times in a row stops the answer. */
  maxConsecutiveToolFailures: z.number().int().default(3),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type AgentRecord = z.infer<typeof agentRecord>;

export const mcpServerRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  name: z.string(),
  slug: z.string(),
  description: z.string().nullable(),
  url: z.string(),
  headerNames: z.array(z.string()),
  /** The headers as JSON, sealed with MCPSTACK_SECRET_KEY (bound to the server id); null when none. */
  sealedHeaders: z.string().nullable(),
  createdOn: z.string(),
  updatedAt: z.string(),
});
export type McpServerRecord = z.infer<typeof mcpServerRecord>;

/** One tool of an MCP server as last listed, with the organization's settings for it. */
export const toolRecord = z.object({
  id: z.string(),
  name: z.string(),
  title: z.string().nullable(),
  description: z.string().nullable(),
  inputSchema: z.record(z.string(), z.unknown()).nullable(),
  isEnabled: z.boolean(),
  displayName: z.string().nullable(),
  descriptionOverride: z.string().nullable(),
  instructions: z.string().nullable(),
  whenToUse: z.string().nullable(),
  whenNotToUse: z.string().nullable(),
  lastSeenAt: z.string(),
});
export type ToolRecord = z.infer<typeof toolRecord>;

export const verifiedDomainRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  agentId: z.string(),
  /** Normalized: lowercase, punycode, no trailing dot. */
  domain: z.string(),
  /** The random part of the TXT value the owner publishes. */
  token: z.string(),
  verifiedAt: z.string().nullable(),
  createdAt: z.string(),
});
export type VerifiedDomainRecord = z.infer<typeof verifiedDomainRecord>;

export const webhookEventTypes = [
  'budget.threshold_reached',
  'credits.low_balance',
  'credits.depleted',
  'usage.overage_flagged',
  'webhook.test',
] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** A receiver of the organization's events, signed per Standard Webhooks with its own secret. */
export const webhookEndpointRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  eventTypes: z.array(z.enum(webhookEventTypes)),
  enabled: z.boolean(),
  /** The `whsec_…` signing secret, sealed with MCPSTACK_SECRET_KEY (bound to the endpoint id). */
  sealedSecret: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type WebhookEndpointRecord = z.infer<typeof webhookEndpointRecord>;

/** One attempt to deliver an event to an endpoint. */
export const webhookAttemptRecord = z.object({
  attemptedAt: z.string(),
  /** The receiver's HTTP status; null when no response came (refused, timed out). */
  responseStatus: z.number().int().nullable(),
  durationMs: z.number().int(),
  error: z.string().nullable(),
});

/** An event to deliver to one endpoint, and how it went. */
export const webhookDeliveryRecord = z.object({
  id: z.string(),
  endpointId: z.string(),
  eventId: z.string(),
  eventType: z.enum(webhookEventTypes),
  /** The exact JSON body sent (signed as is on every attempt). */
  payload: z.string(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  attempts: z.array(webhookAttemptRecord),
  nextAttemptAt: z.string().nullable(),
  createdAt: z.string(),
  /** Retries stop after this (24 hours after the event). */
  giveUpAt: z.string(),
});
export type WebhookDeliveryRecord = z.infer<typeof webhookDeliveryRecord>;
