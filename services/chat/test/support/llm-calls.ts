import { buildLlmCall, type CallOwnership, type LlmCallDraft } from '../../src/domain/chat/llm-calls.ts';

/** The record of one finished call that cost `costMicros`, for tests that drive settle directly. */
export function settledCall(context: CallOwnership, costMicros: number, at = new Date()): LlmCallDraft {
  const time = at.toISOString();
  return buildLlmCall(context, {
    stepNumber: 0,
    status: 'ok',
    inputTokens: 10,
    cachedInputTokens: 0,
    outputTokens: 5,
    reasoningTokens: 0,
    usageEstimated: false,
    costMicros,
    latencyMs: 1,
    timeToFirstTokenMs: 1,
    finishReason: 'stop',
    toolCalls: [],
    error: null,
    createdAt: time,
    finishedAt: time,
  });
}
