import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type {
  LanguageModelV4FinishReason,
  LanguageModelV4Prompt,
  LanguageModelV4StreamPart,
  LanguageModelV4Usage,
} from '@ai-sdk/provider';
import { type ModelCall, ModelCallError, type ModelClient, type PreparedCall } from './model-client.ts';
import { SseParser } from './sse.ts';

/**
 * A lean client of the OpenAI Chat Completions stream (`POST /chat/completions`, `stream: true`),
 * on `node:http` with kept-alive connections. It speaks the same request as `@ai-sdk/openai`'s chat
 * model and hands back the same language-model stream parts, without the web-stream pipeline, the
 * fetch layer and a zod parse per chunk that made the provider cost about four times a bare relay
 * (docs/decisions/0005-lean-chat-stream.md). The Responses API stays on the AI SDK's provider.
 *
 * What OpenAI-compatible servers really send, and how it is read:
 * - usage in a last chunk with `choices: []` (`stream_options.include_usage`), or not at all;
 * - tool-call arguments split over many chunks, several tool calls interleaved by `index`;
 * - `{ "error": … }` as an event mid-stream (an `error` part);
 * - `:` keep-alive comments, CRLF line ends, a missing `[DONE]` after a finish reason.
 */
export interface ChatCompletionsOptions {
  /** The server's base URL, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  apiKey: string | undefined;
  /** One retry of a call the server answered 429 or 5xx, or could not take, before any output. */
  retryDelayMs?: number;
}

const agents = {
  'http:': new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxFreeSockets: 256 }),
  'https:': new https.Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxFreeSockets: 256 }),
};

/** o-series and GPT-5-or-later models (not `-chat`) take `developer` and `max_completion_tokens`. */
export function isReasoningModel(modelId: string): boolean {
  if (/^o\d/.test(modelId)) return true;
  const gpt = /^gpt-(\d+)(?:\.\d+)?(?:-(.*))?$/.exec(modelId);
  return gpt !== null && Number(gpt[1]) >= 5 && !(gpt[2] ?? '').startsWith('chat');
}

type ChatMessage =
  | { role: 'system' | 'developer'; content: string }
  | { role: 'user'; content: string | { type: 'text'; text: string }[] }
  | {
      role: 'assistant';
      content: string | null;
      tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
    }
  | { role: 'tool'; tool_call_id: string; content: string };

/** The AI SDK's prompt as Chat Completions messages, as `@ai-sdk/openai`'s chat model converts it. */
export function toChatMessages(prompt: LanguageModelV4Prompt, reasoning: boolean): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const message of prompt) {
    switch (message.role) {
      case 'system':
        messages.push({ role: reasoning ? 'developer' : 'system', content: message.content });
        break;
      case 'user': {
        const texts = message.content.map((part) => {
          if (part.type !== 'text') throw new Error(`Unsupported user content: ${part.type}`);
          return part.text;
        });
        messages.push({
          role: 'user',
          content: texts.length === 1 ? (texts[0] ?? '') : texts.map((text) => ({ type: 'text', text })),
        });
        break;
      }
      case 'assistant': {
        let text = '';
        const calls: NonNullable<Extract<ChatMessage, { role: 'assistant' }>['tool_calls']> = [];
        for (const part of message.content) {
          if (part.type === 'text') text += part.text;
          else if (part.type === 'tool-call') {
            calls.push({
              id: part.toolCallId,
              type: 'function',
              function: { name: part.toolName, arguments: JSON.stringify(part.input) },
            });
          }
        }
        messages.push(
          calls.length > 0
            ? { role: 'assistant', content: text || null, tool_calls: calls }
            : { role: 'assistant', content: text },
        );
        break;
      }
      case 'tool':
        for (const part of message.content) {
          if (part.type !== 'tool-result') continue;
          const output = part.output;
          let content: string;
          switch (output.type) {
            case 'text':
              content = output.value;
              break;
            case 'error-text':
            case 'error-json':
              content = JSON.stringify({ error: output.value });
              break;
            case 'execution-denied':
              content = output.reason ?? 'Tool call execution denied.';
              break;
            default:
              content = JSON.stringify(output.value);
          }
          messages.push({ role: 'tool', tool_call_id: part.toolCallId, content });
        }
        break;
    }
  }
  return messages;
}

/** The request body, as `@ai-sdk/openai`'s chat model writes it for a streamed call. */
export function chatCompletionsBody(modelId: string, call: ModelCall): string {
  const reasoning = isReasoningModel(modelId);
  return JSON.stringify({
    model: modelId,
    max_tokens: reasoning ? undefined : call.maxOutputTokens,
    temperature: reasoning ? undefined : call.temperature,
    max_completion_tokens: reasoning ? call.maxOutputTokens : undefined,
    messages: toChatMessages(call.prompt, reasoning),
    tools:
      call.tools.length === 0
        ? undefined
        : call.tools.map((tool) => ({
            type: 'function',
            function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
          })),
    stream: true,
    stream_options: { include_usage: true },
  });
}

function unifiedFinishReason(raw: string | null): LanguageModelV4FinishReason['unified'] {
  switch (raw) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'content_filter':
      return 'content-filter';
    case 'function_call':
    case 'tool_calls':
      return 'tool-calls';
    default:
      return 'other';
  }
}

const integer = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

function usageOf(raw: Record<string, unknown> | null): LanguageModelV4Usage {
  const prompt = integer(raw?.prompt_tokens);
  const completion = integer(raw?.completion_tokens);
  const cached = integer((raw?.prompt_tokens_details as Record<string, unknown> | undefined)?.cached_tokens);
  const reasoningTokens = integer(
    (raw?.completion_tokens_details as Record<string, unknown> | undefined)?.reasoning_tokens,
  );
  return {
    inputTokens: {
      total: prompt,
      noCache: prompt === undefined ? undefined : prompt - (cached ?? 0),
      cacheRead: cached,
      cacheWrite: undefined,
    },
    outputTokens: {
      total: completion,
      text: completion === undefined ? undefined : completion - (reasoningTokens ?? 0),
      reasoning: reasoningTokens,
    },
  };
}

interface ToolCallState {
  id: string;
  name: string;
  args: string;
}

/**
 * Reads one streamed answer: each SSE event's JSON, checked field by field for what is read (a zod
 * parse per chunk was a measurable share of the CPU), turned into stream parts.
 */
class ChunkReader {
  #text = false;
  #reasoning = false;
  #calls: (ToolCallState | undefined)[] = [];
  #finish: string | null = null;
  #usage: Record<string, unknown> | null = null;
  #failed = false;
  done = false;
  readonly #emit: (part: LanguageModelV4StreamPart) => void;

  constructor(emit: (part: LanguageModelV4StreamPart) => void) {
    this.#emit = emit;
  }

  get sawFinish(): boolean {
    return this.#finish !== null;
  }

  get failed(): boolean {
    return this.#failed;
  }

  fail(error: unknown): void {
    this.#failed = true;
    this.#emit({ type: 'error', error });
  }

  data(data: string): void {
    if (this.done || this.#failed) return;
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    let chunk: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(data);
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
      chunk = parsed as Record<string, unknown>;
    } catch {
      this.fail(new ModelCallError('The model server sent an event that is not a JSON object', null));
      return;
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      const error = chunk.error as { message?: unknown };
      const message = typeof error.message === 'string' ? error.message : JSON.stringify(chunk.error);
      this.fail(new ModelCallError(`The model server failed mid-answer: ${message}`, null));
      return;
    }
    if (typeof chunk.usage === 'object' && chunk.usage !== null) {
      this.#usage = chunk.usage as Record<string, unknown>;
    }
    const choices = chunk.choices;
    if (!Array.isArray(choices) || choices.length === 0) return;
    const choice = choices[0] as { delta?: Record<string, unknown> | null; finish_reason?: unknown };
    if (typeof choice.finish_reason === 'string') this.#finish = choice.finish_reason;
    const delta = choice.delta;
    if (typeof delta !== 'object' || delta === null) return;
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === 'string' && reasoning.length > 0) {
      if (!this.#reasoning) {
        this.#reasoning = true;
        this.#emit({ type: 'reasoning-start', id: 'reasoning-0' });
      }
      this.#emit({ type: 'reasoning-delta', id: 'reasoning-0', delta: reasoning });
    }
    const content = delta.content;
    if (typeof content === 'string' && content.length > 0) {
      if (!this.#text) {
        this.#text = true;
        this.#emit({ type: 'text-start', id: '0' });
      }
      this.#emit({ type: 'text-delta', id: '0', delta: content });
    }
    if (Array.isArray(delta.tool_calls)) this.#toolCalls(delta.tool_calls);
  }

  #toolCalls(deltas: unknown[]): void {
    for (const [position, item] of deltas.entries()) {
      const delta = item as {
        index?: unknown;
        id?: unknown;
        function?: { name?: unknown; arguments?: unknown };
      };
      const index = integer(delta.index) ?? position;
      const args = typeof delta.function?.arguments === 'string' ? delta.function.arguments : '';
      const call = this.#calls[index];
      if (call === undefined) {
        if (typeof delta.id !== 'string' || typeof delta.function?.name !== 'string') {
          this.fail(new ModelCallError('The model server sent a tool call without an id or a name', null));
          return;
        }
        const started: ToolCallState = { id: delta.id, name: delta.function.name, args };
        this.#calls[index] = started;
        this.#emit({ type: 'tool-input-start', id: started.id, toolName: started.name });
        if (args.length > 0) this.#emit({ type: 'tool-input-delta', id: started.id, delta: args });
      } else if (args.length > 0) {
        call.args += args;
        this.#emit({ type: 'tool-input-delta', id: call.id, delta: args });
      }
    }
  }

  /** The stream ended normally: close what is open, hand over the tool calls, then `finish`. */
  finish(): void {
    if (this.#failed) return;
    if (this.#reasoning) this.#emit({ type: 'reasoning-end', id: 'reasoning-0' });
    if (this.#text) this.#emit({ type: 'text-end', id: '0' });
    for (const call of this.#calls) {
      if (!call) continue;
      this.#emit({ type: 'tool-input-end', id: call.id });
      this.#emit({ type: 'tool-call', toolCallId: call.id, toolName: call.name, input: call.args || '{}' });
    }
    this.#emit({
      type: 'finish',
      usage: usageOf(this.#usage),
      finishReason: { unified: unifiedFinishReason(this.#finish), raw: this.#finish ?? undefined },
    });
  }
}

function post(url: URL, headers: Record<string, string>, body: string, signal: AbortSignal) {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      agent: agents[url.protocol === 'https:' ? 'https:' : 'http:'],
      headers,
      signal,
    });
    request.once('response', resolve);
    request.once('error', reject);
    request.end(body);
  });
}

async function readError(response: IncomingMessage): Promise<string> {
  let text = '';
  response.setEncoding('utf8');
  for await (const piece of response) {
    if (text.length < 16_384) text += piece;
  }
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') return parsed.error.message;
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 500) || `status ${response.statusCode}`;
}

const retryableStatus = (status: number) =>
  status === 408 || status === 409 || status === 429 || status >= 500;

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function createChatCompletionsClient(modelId: string, options: ChatCompletionsOptions): ModelClient {
  const url = new URL(`${options.baseUrl.replace(/\/+$/, '')}/chat/completions`);
  const retryDelayMs = options.retryDelayMs ?? 500;
  return {
    prepare(call: ModelCall): PreparedCall {
      const body = chatCompletionsBody(modelId, call);
      const bytes = Buffer.byteLength(body, 'utf8');
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'content-length': String(bytes),
        accept: 'text/event-stream',
      };
      if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
      return {
        sentBytes: bytes,
        async stream(onPart, signal) {
          let response: IncomingMessage;
          for (let attempt = 0; ; attempt++) {
            let status: number | null = null;
            let failure: ModelCallError;
            try {
              response = await post(url, headers, body, signal);
              status = response.statusCode ?? 0;
              if (status < 400) break;
              failure = new ModelCallError(await readError(response), status);
            } catch (error) {
              if (signal.aborted) throw signal.reason;
              failure = new ModelCallError(
                `The model server could not be reached: ${error instanceof Error ? error.message : String(error)}`,
                null,
                { cause: error },
              );
            }
            if (attempt > 0 || (status !== null && !retryableStatus(status))) throw failure;
            await delay(retryDelayMs, signal);
          }
          onPart({ type: 'stream-start', warnings: [] });
          const reader = new ChunkReader(onPart);
          const parser = new SseParser((data) => reader.data(data));
          response.setEncoding('utf8');
          await new Promise<void>((resolve) => {
            let settled = false;
            const settle = () => {
              if (settled) return;
              settled = true;
              response.off('data', onData);
              resolve();
            };
            const onData = (text: string) => parser.push(text);
            response.on('data', onData);
            response.once('end', () => {
              parser.end();
              if (!reader.failed) {
                if (reader.done || reader.sawFinish) reader.finish();
                else reader.fail(new ModelCallError('The model server ended the answer early', null));
              }
              settle();
            });
            // Aborted by us (the visitor left, our time limit), or cut by the server mid-answer.
            const broke = (error?: Error) => {
              if (settled) return;
              if (!signal.aborted && !reader.failed) {
                const reason = error?.message ?? 'the connection closed';
                reader.fail(
                  new ModelCallError(`The model's stream broke: ${reason}`, null, { cause: error }),
                );
              }
              settle();
            };
            response.once('error', broke);
            response.once('close', () => broke());
          });
          if (signal.aborted) throw signal.reason;
        },
      };
    },
  };
}
