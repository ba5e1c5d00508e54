import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { newId } from '../../ids.ts';
import type { Page } from '../../storage/collection.ts';
import type { ModelPrice } from '../model-catalog.ts';
import type { Owner } from '../owner.ts';

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
  /** What was booked against the caps and credits: the cost of the usage, at most the call's hold. */
  costMicros: z.number().int(),
  costUsd: z.number(),
  /** The cost of the usage the model server reported (or, without a report, of the estimate). */
  reportedCostMicros: z.number().int().optional(),
  /** How much the reported cost exceeded the hold, so was not booked (a model ignoring its limit). */
  overageMicros: z.number().int().optional(),
  /**
   * Who settled the call: the answer (`stream`), the journal replayed after Redis was unreachable
   * (`journal`), or the expiry of a hold nobody settled, charged at its bound (`expiry`).
   */
  settledBy: z.enum(['stream', 'journal', 'expiry']).optional(),
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
  owner: Owner;
  model: { id: string };
}

/** The fields of a record the settle script decides (what is booked of the cost, and by whom). */
type SettledFields = 'costMicros' | 'costUsd' | 'reportedCostMicros' | 'overageMicros' | 'settledBy';

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
  | SettledFields
> & { costMicros: number };

/** A call ready to settle: its record without the settled fields, and the cost of its usage. */
export interface LlmCallDraft {
  record: Omit<LlmCallRecord, SettledFields>;
  costMicros: number;
}

export function buildLlmCall(context: CallOwnership, measured: CallMeasurement): LlmCallDraft {
  const { costMicros, ...rest } = measured;
  return {
    record: {
      id: newId('llmCall'),
      organizationId: context.organizationId,
      agentId: context.agentId,
      conversationId: context.conversationId,
      visitorId: context.owner.kind === 'visitor' ? context.owner.id : null,
      externalUserId: context.owner.kind === 'user' ? context.owner.id : null,
      model: context.model.id,
      ...rest,
    },
    costMicros,
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

/** What the LLM-call log can be narrowed to (all optional, combined). */
export interface LlmCallFilter {
  /** One signed-in user's calls (`externalUserId`). */
  externalUserId?: string;
  status?: LlmCallRecord['status'];
  /** Calls metered from estimated usage (the model server reported none). */
  usageEstimated?: boolean;
  /** Calls flagged for review: the reported usage cost more than the hold, or a dead instance's hold. */
  flagged?: boolean;
}

type CallDeps = Pick<Deps, 'history'>;

/**
 * An agent's LLM calls, newest first (ids sort by time), from PostgreSQL; the cursor is the last
 * id served. A call that just ended shows once the drainer has moved it (well under a second).
 */
export function listLlmCalls(
  deps: CallDeps,
  ...query: Parameters<CallDeps['history']['listLlmCalls']>
): Promise<Page<LlmCallRecord>> {
  return deps.history.listLlmCalls(...query);
}
