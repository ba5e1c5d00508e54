import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { newId } from '../../ids.ts';
import type { Page, PageRequest } from '../../storage/collection.ts';
import { type ModelPrice, microsToUsd } from '../model-catalog.ts';
import type { ConversationOwner } from './conversations.ts';

/** One LLM call (one step of an agent's tool loop), as recorded after it ended. */
export const llmCallRecord = z.object({
  id: z.string(),
  organizationId: z.string(),
  agentId: z.string(),
  conversationId: z.string(),
  visitorId: z.string().nullable(),
  externalUserId: z.string().nullable(),
  model: z.string(),
  stepNumber: z.number().int(),
  status: z.enum(['ok', 'error', 'aborted']),
  inputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  outputTokens: z.number().int(),
  reasoningTokens: z.number().int(),
  /** True when the model server reported no usage and the tokens were estimated (conservatively). */
  usageEstimated: z.boolean(),
  costMicros: z.number().int(),
  costUsd: z.number(),
  latencyMs: z.number().int(),
  timeToFirstTokenMs: z.number().int().nullable(),
  finishReason: z.string().nullable(),
  toolCalls: z.array(z.object({ toolCallId: z.string(), toolName: z.string() })),
  error: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string(),
});
export type LlmCallRecord = z.infer<typeof llmCallRecord>;

/** Whom a call is metered against: the identifying part of a metering context. */
export interface CallOwnership {
  organizationId: string;
  agentId: string;
  conversationId: string;
  owner: ConversationOwner;
  model: { id: string };
}

/** What was measured of one call; the rest of its record comes from whom it is metered against. */
export type CallMeasurement = Omit<
  LlmCallRecord,
  | 'id'
  | 'organizationId'
  | 'agentId'
  | 'conversationId'
  | 'visitorId'
  | 'externalUserId'
  | 'model'
  | 'costUsd'
>;

export function buildLlmCall(context: CallOwnership, measured: CallMeasurement): LlmCallRecord {
  return {
    id: newId('llmCall'),
    organizationId: context.organizationId,
    agentId: context.agentId,
    conversationId: context.conversationId,
    visitorId: context.owner.kind === 'visitor' ? context.owner.id : null,
    externalUserId: context.owner.kind === 'user' ? context.owner.id : null,
    model: context.model.id,
    ...measured,
    costUsd: microsToUsd(measured.costMicros),
  };
}

export interface TokenUsage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
}

/**
 * Cost in integer micro-USD, rounded up: prices are per million tokens, cached input tokens are
 * billed at the cached price and the rest of the input at the input price.
 */
export function costMicros(price: ModelPrice, usage: TokenUsage): number {
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const total =
    (usage.inputTokens - cached) * price.inputMicrosPerMillion +
    cached * price.cachedInputMicrosPerMillion +
    usage.outputTokens * price.outputMicrosPerMillion;
  return Math.ceil(total / 1_000_000);
}

type CallDeps = Pick<Deps, 'history'>;

/**
 * An agent's LLM calls, newest first (ids sort by time), from PostgreSQL; the cursor is the last
 * id served. A call that just ended shows once the drainer has moved it (well under a second).
 */
export async function listLlmCalls(
  deps: CallDeps,
  organizationId: string,
  agentId: string,
  page: PageRequest,
): Promise<Page<LlmCallRecord>> {
  return deps.history.listLlmCalls(organizationId, agentId, page);
}
