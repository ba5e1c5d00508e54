import type { MeterContext } from '../../services/chat/src/domain/budgets/meter.ts';
import { buildLlmCall, type LlmCallDraft } from '../../services/chat/src/domain/history/llm-calls.ts';

/** One finished model call of a typical size, as the chat turn settles it, for the metering benchmarks. */
export function benchCall(context: MeterContext, costMicros: number): LlmCallDraft {
  const now = new Date().toISOString();
  return buildLlmCall(context, {
    stepNumber: 0,
    status: 'ok',
    inputTokens: 120,
    cachedInputTokens: 0,
    outputTokens: 80,
    reasoningTokens: 0,
    usageEstimated: false,
    costMicros,
    latencyMs: 300,
    timeToFirstTokenMs: 90,
    finishReason: 'stop',
    toolCalls: [],
    error: null,
    createdAt: now,
    finishedAt: now,
  });
}
