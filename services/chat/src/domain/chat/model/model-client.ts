import type { JSONSchema7, LanguageModelV4Prompt, LanguageModelV4StreamPart } from '@ai-sdk/provider';

/** A tool as the model sees it: a function with a JSON Schema for its input. */
export interface ModelTool {
  name: string;
  description: string | undefined;
  inputSchema: JSONSchema7;
}

/** One call of the model: one step of the agent's tool loop. The prompt is the AI SDK's own type. */
export interface ModelCall {
  prompt: LanguageModelV4Prompt;
  tools: readonly ModelTool[];
  maxOutputTokens: number;
  temperature: number | undefined;
}

/**
 * A call ready to send. `sentBytes` is the size of what goes to the model server; every token is at
 * least one byte of it, so it bounds the input tokens from above (the budget's cost bound).
 */
export interface PreparedCall {
  sentBytes: number;
  /**
   * Streams the answer as the AI SDK's language-model stream parts (`stream-start` once the server
   * accepted the call, then text, reasoning and tool-input parts, `tool-call`s, and `finish` with
   * the usage). Resolves when the stream ended; a failure mid-stream is an `error` part. Rejects
   * when the call failed before it streamed (the server refused it, could not be reached) or was
   * aborted.
   */
  stream(onPart: (part: LanguageModelV4StreamPart) => void, signal: AbortSignal): Promise<void>;
}

export interface ModelClient {
  prepare(call: ModelCall): PreparedCall;
}

/** Where model clients come from: the service's one OpenAI-compatible server. */
export interface ModelProvider {
  client(modelId: string): ModelClient;
}

/** The model server refused or failed a call (an HTTP status), or could not be reached (null). */
export class ModelCallError extends Error {
  override name = 'ModelCallError';
  readonly statusCode: number | null;
  constructor(message: string, statusCode: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.statusCode = statusCode;
  }
}
