/**
 * A reply turned into OpenAI's wire format: the streamed `chat.completion.chunk`s or one `chat.completion`.
 * Pure: the server decides when each chunk goes out.
 */
import { randomBytes } from 'node:crypto';
import type { Reply } from './reply.ts';
import { countTextTokens, splitArguments, splitIntoPieces } from './tokens.ts';

export type FinishReason = 'stop' | 'tool_calls' | 'length';

/** OpenAI's usage object, with the details the AI SDK reads. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

/** What will be sent: the reply as `max_tokens` leaves it, in the pieces it is streamed in. */
export interface PlannedCompletion {
  reply: Reply;
  /** The text's pieces (one word and its trailing space each), or slices of the tool call's arguments. */
  pieces: string[];
  finishReason: FinishReason;
  completionTokens: number;
}

/**
 * Text costs one token per piece; a tool call costs its arguments' tokens (`ceil(chars / 4)`). When that
 * exceeds `maxTokens`, the answer is cut to `maxTokens` tokens and finishes with `length`, as OpenAI's does.
 */
export function planCompletion(reply: Reply, maxTokens: number | undefined): PlannedCompletion {
  if (reply.kind === 'text') {
    const all = splitIntoPieces(reply.text);
    const pieces = maxTokens !== undefined && all.length > maxTokens ? all.slice(0, maxTokens) : all;
    return {
      reply: { kind: 'text', text: pieces.join('') },
      pieces,
      finishReason: pieces.length < all.length ? 'length' : 'stop',
      completionTokens: pieces.length,
    };
  }
  const tokens = countTextTokens(reply.arguments);
  const cut = maxTokens !== undefined && tokens > maxTokens;
  const argumentsJson = cut ? reply.arguments.slice(0, maxTokens * 4) : reply.arguments;
  return {
    reply: { ...reply, arguments: argumentsJson },
    pieces: splitArguments(argumentsJson),
    finishReason: cut ? 'length' : 'tool_calls',
    completionTokens: countTextTokens(argumentsJson),
  };
}

export function usageOf(promptTokens: number, completionTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomAlphanumeric(length: number): string {
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** `chatcmpl-…` and `call_…`, shaped like OpenAI's. */
export function newCompletionId(): string {
  return `chatcmpl-${randomAlphanumeric(29)}`;
}

export function newToolCallId(): string {
  return `call_${randomAlphanumeric(24)}`;
}

/** The fields every chunk and completion of one response share. */
export interface ResponseMeta {
  id: string;
  created: number;
  model: string;
  toolCallId: string;
}

export function createResponseMeta(model: string): ResponseMeta {
  return {
    id: newCompletionId(),
    created: Math.floor(Date.now() / 1000),
    model,
    toolCallId: newToolCallId(),
  };
}

type Delta = Record<string, unknown>;

/**
 * The chunks of a streamed response, in order: the role chunk, one per piece, the finish chunk. With
 * `includeUsage`, every chunk carries `usage: null` and the caller appends {@link usageChunk} (as OpenAI
 * does when `stream_options.include_usage` is set).
 */
export function completionChunks(
  plan: PlannedCompletion,
  meta: ResponseMeta,
  includeUsage: boolean,
): Record<string, unknown>[] {
  const chunk = (delta: Delta, finishReason: FinishReason | null) => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const { reply } = plan;
  const chunks: Record<string, unknown>[] = [];
  if (reply.kind === 'text') {
    chunks.push(chunk({ role: 'assistant', content: '', refusal: null }, null));
    for (const piece of plan.pieces) chunks.push(chunk({ content: piece }, null));
  } else {
    const start = {
      index: 0,
      id: meta.toolCallId,
      type: 'function',
      function: { name: reply.toolName, arguments: '' },
    };
    chunks.push(chunk({ role: 'assistant', content: null, tool_calls: [start], refusal: null }, null));
    for (const piece of plan.pieces)
      chunks.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null));
  }
  chunks.push(chunk({}, plan.finishReason));
  return chunks;
}

export function usageChunk(meta: ResponseMeta, usage: Usage): Record<string, unknown> {
  return {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [],
    usage,
  };
}

/** The `chat.completion` of a non-streaming request. */
export function completionBody(
  plan: PlannedCompletion,
  meta: ResponseMeta,
  usage: Usage | undefined,
): Record<string, unknown> {
  const { reply } = plan;
  const message =
    reply.kind === 'text'
      ? { role: 'assistant', content: reply.text, refusal: null, annotations: [] }
      : {
          role: 'assistant',
          content: null,
          refusal: null,
          annotations: [],
          tool_calls: [
            {
              id: meta.toolCallId,
              type: 'function',
              function: { name: reply.toolName, arguments: reply.arguments },
            },
          ],
        };
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finishReason }],
    ...(usage ? { usage } : {}),
  };
}
