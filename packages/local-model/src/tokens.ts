/**
 * The local model's token counting. It is not a tokenizer: it is a rule simple enough that a test can
 * predict the usage from the request and the answer (the README states it).
 */
import { type ChatCompletionRequest, messageText } from './chat-request.ts';

/** Added for every message: OpenAI's own counting guide adds a few tokens for the role and separators. */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Added once per request: every reply is primed with the assistant's role. */
export const REPLY_PRIMING_TOKENS = 3;

/** One token per 4 characters (JavaScript string length), rounded up. */
export function countTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * `3 + Σ messages (4 + ceil(chars / 4)) + Σ tools ceil(chars of JSON.stringify(tool.function) / 4)`, where a
 * message's chars are its text plus, for an assistant's tool calls, each call's name and arguments.
 */
export function countPromptTokens(request: ChatCompletionRequest): number {
  let tokens = REPLY_PRIMING_TOKENS;
  for (const message of request.messages) {
    let text = messageText(message);
    for (const call of message.tool_calls ?? []) text += call.function.name + call.function.arguments;
    tokens += MESSAGE_OVERHEAD_TOKENS + countTextTokens(text);
  }
  for (const tool of request.tools ?? []) tokens += countTextTokens(JSON.stringify(tool.function));
  return tokens;
}

/**
 * Splits text into the pieces streamed one per chunk, a word with the whitespace after it. Each piece is
 * one completion token.
 */
export function splitIntoPieces(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? [];
}

/** How many characters of tool-call arguments go in one streamed chunk. */
const ARGUMENT_PIECE_CHARS = 12;

/** Tool-call arguments streamed in small pieces, as OpenAI streams them (a few characters at a time). */
export function splitArguments(argumentsJson: string): string[] {
  const pieces: string[] = [];
  for (let start = 0; start < argumentsJson.length; start += ARGUMENT_PIECE_CHARS) {
    pieces.push(argumentsJson.slice(start, start + ARGUMENT_PIECE_CHARS));
  }
  return pieces;
}
