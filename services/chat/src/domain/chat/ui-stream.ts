import type { DynamicToolUIPart, FinishReason, InferUIMessageChunk, TextUIPart } from 'ai';
import type { StoredMessage } from './conversations.ts';

type AnswerChunk = InferUIMessageChunk<StoredMessage>;

/** Where the answer's bytes go: the HTTP response, as far as the domain knows. */
export interface StreamSink {
  write(text: string): void;
  end(): void;
}

/** The protocol's response headers (`pipeUIMessageStreamToResponse` sends the same). */
export const uiMessageStreamHeaders: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-vercel-ai-ui-message-stream': 'v1',
  'x-accel-buffering': 'no',
};

const event = (chunk: AnswerChunk) => `data: ${JSON.stringify(chunk)}\n\n`;

/**
 * Writes one answer in the AI SDK's UI message stream protocol (SSE, `data: <chunk JSON>`, then
 * `data: [DONE]`), byte for byte as `createUIMessageStream` + `pipeUIMessageStreamToResponse` do,
 * and builds the answer as a stored UI message on the way, as `readUIMessageStream` would: the
 * record the conversation keeps. Text deltas, the per-token hot path, are written as a template
 * around the JSON-escaped delta instead of a chunk object each.
 */
export class UiMessageStream {
  readonly message: StoredMessage;
  #text: TextUIPart | null = null;
  #tools = new Map<string, DynamicToolUIPart>();
  #closed = false;
  readonly #sink: StreamSink;

  constructor(sink: StreamSink, messageId: string, metadata: StoredMessage['metadata']) {
    this.#sink = sink;
    this.message = { id: messageId, role: 'assistant', parts: [], metadata };
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(): void {
    this.#write({ type: 'start', messageMetadata: this.message.metadata, messageId: this.message.id });
  }

  startStep(): void {
    this.message.parts.push({ type: 'step-start' });
    this.#write({ type: 'start-step' });
  }

  textStart(id: string): void {
    this.#text = { type: 'text', text: '', state: 'streaming' };
    this.message.parts.push(this.#text);
    this.#write({ type: 'text-start', id });
  }

  textDelta(id: string, delta: string): void {
    if (this.#text) this.#text.text += delta;
    if (!this.#closed) {
      this.#sink.write(
        `data: {"type":"text-delta","id":${JSON.stringify(id)},"delta":${JSON.stringify(delta)}}\n\n`,
      );
    }
  }

  textEnd(id: string): void {
    if (this.#text) this.#text.state = 'done';
    this.#text = null;
    this.#write({ type: 'text-end', id });
  }

  toolInputStart(toolCallId: string, toolName: string, title: string | undefined): void {
    const part = {
      type: 'dynamic-tool',
      toolName,
      toolCallId,
      state: 'input-streaming',
      input: undefined,
      title,
    } as DynamicToolUIPart;
    this.#tools.set(toolCallId, part);
    this.message.parts.push(part);
    this.#write({ type: 'tool-input-start', toolCallId, toolName, dynamic: true, title });
  }

  toolInputDelta(toolCallId: string, inputTextDelta: string): void {
    this.#write({ type: 'tool-input-delta', toolCallId, inputTextDelta });
  }

  toolInputAvailable(toolCallId: string, toolName: string, input: unknown, title: string | undefined): void {
    this.#tool(toolCallId, toolName, title, { state: 'input-available', input });
    this.#write({ type: 'tool-input-available', toolCallId, toolName, input, dynamic: true, title });
  }

  /** The model's arguments were not valid JSON: the call is not made; the model reads why. */
  toolInputError(
    toolCallId: string,
    toolName: string,
    input: unknown,
    title: string | undefined,
    errorText: string,
  ): void {
    this.#tool(toolCallId, toolName, title, { state: 'output-error', input, errorText });
    this.#write({ type: 'tool-input-error', toolCallId, toolName, input, dynamic: true, errorText, title });
  }

  toolOutputAvailable(toolCallId: string, output: unknown): void {
    const part = this.#tools.get(toolCallId);
    if (part) Object.assign(part, { state: 'output-available', output });
    this.#write({ type: 'tool-output-available', toolCallId, output, dynamic: true });
  }

  toolOutputError(toolCallId: string, errorText: string): void {
    const part = this.#tools.get(toolCallId);
    if (part) Object.assign(part, { state: 'output-error', errorText });
    this.#write({ type: 'tool-output-error', toolCallId, errorText, dynamic: true });
  }

  finishStep(): void {
    this.#write({ type: 'finish-step' });
  }

  /** Ends the answer; `metadata` is merged into the message's (as the AI SDK's `messageMetadata`). */
  finish(finishReason: FinishReason, metadata?: StoredMessage['metadata']): void {
    if (metadata) {
      this.message.metadata = { ...this.message.metadata, ...metadata };
      this.#write({ type: 'finish', finishReason, messageMetadata: metadata });
      return;
    }
    this.#write({ type: 'finish', finishReason });
  }

  /** A custom data part of the protocol (`data-<name>`), e.g. why an answer stopped; kept in the answer. */
  data(name: string, data: unknown): void {
    this.message.parts.push({ type: `data-${name}`, data } as StoredMessage['parts'][number]);
    this.#write({ type: `data-${name}`, data } as AnswerChunk);
  }

  error(errorText: string): void {
    this.#write({ type: 'error', errorText });
  }

  abort(): void {
    this.#write({ type: 'abort' });
  }

  /** Ends the protocol (`[DONE]`) and the response. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink.write('data: [DONE]\n\n');
    this.#sink.end();
  }

  #tool(
    toolCallId: string,
    toolName: string,
    title: string | undefined,
    fields: Partial<DynamicToolUIPart>,
  ): void {
    const existing = this.#tools.get(toolCallId);
    if (existing) {
      Object.assign(existing, { toolName, ...fields });
      return;
    }
    const part = { type: 'dynamic-tool', toolName, toolCallId, ...fields, title } as DynamicToolUIPart;
    this.#tools.set(toolCallId, part);
    this.message.parts.push(part);
  }

  #write(chunk: AnswerChunk): void {
    if (!this.#closed) this.#sink.write(event(chunk));
  }
}
