/**
 * What the local model answers: a pure function of the request, so a test knows the answer in advance.
 * The rules, in order, are in the README ("How it answers").
 */
import { type ChatCompletionRequest, type ChatMessage, type ChatTool, messageText } from './chat-request.ts';
import { buildArguments, matchTool } from './tool-matching.ts';

export type Reply =
  | { kind: 'text'; text: string }
  | { kind: 'tool_call'; toolName: string /** JSON text, as OpenAI sends it. */; arguments: string };

/** Phrases in the last user message that make a test's failure mode happen. */
export interface MagicPhrases {
  /** `[long]`: a ~400-word answer, so `max_tokens` can cut it. */
  long: boolean;
  /** `[error]`: HTTP 500 with OpenAI's error body. */
  error: boolean;
  /** `[slow]`: at least 50 ms between chunks. */
  slow: boolean;
  /** `[stream-error]`: a few chunks, then the socket is destroyed. */
  streamError: boolean;
  /** `[retry-tools]`: after a tool's result, call the same tool again (never answers on its own). */
  retryTools: boolean;
}

/** How much of a tool's result the answer quotes. */
const RESULT_MAX_CHARS = 600;
/** How much of the user's message the answer echoes. */
const ECHO_MAX_CHARS = 300;
const LONG_ANSWER_WORDS = 400;
const LONG_ANSWER_SENTENCE_WORDS = 12;

function lastUserMessage(messages: ChatMessage[]): { index: number; text: string } {
  const index = messages.findLastIndex((message) => message.role === 'user');
  return { index, text: index >= 0 ? messageText(messages[index]!) : '' };
}

export function readMagicPhrases(request: ChatCompletionRequest): MagicPhrases {
  const text = lastUserMessage(request.messages).text.toLowerCase();
  return {
    long: text.includes('[long]'),
    error: text.includes('[error]'),
    slow: text.includes('[slow]'),
    streamError: text.includes('[stream-error]'),
    retryTools: text.includes('[retry-tools]'),
  };
}

function truncate(text: string, maxChars: number): string {
  const compact = text.replace(/\s+/g, ' ').trim();
  return compact.length > maxChars ? `${compact.slice(0, maxChars - 1)}…` : compact;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An array of content parts (`[{ type: 'text', text }]`), as MCP tools and the AI SDK's `content` output send. */
function isContentParts(value: unknown): value is Array<{ type: string; text?: unknown }> {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((part) => isRecord(part) && typeof part.type === 'string')
  );
}

function partsText(parts: Array<{ type: string; text?: unknown }>): string {
  return parts
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text as string)
    .join(' ');
}

/**
 * JSON as compact text: an object's entries as `key: value` joined by `, `, an array's items joined by `; `,
 * anything nested deeper in parentheses or brackets.
 */
function summarize(value: unknown, nested = false): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value !== 'object') return String(value);
  if (isContentParts(value)) return partsText(value);
  if (Array.isArray(value)) {
    const items = value.map((item) => summarize(item, nested));
    return nested ? `[${items.join('; ')}]` : items.join('; ');
  }
  const record = value as Record<string, unknown>;
  // An MCP CallToolResult: what the model reads is its text content.
  if (isContentParts(record.content)) return partsText(record.content);
  const entries = Object.entries(record).map(([key, item]) => `${key}: ${summarize(item, true)}`);
  return nested ? `(${entries.join(', ')})` : entries.join(', ');
}

function parseResult(content: string): unknown {
  const trimmed = content.trim();
  if (!/^[[{"]/.test(trimmed)) return content;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return content;
  }
}

/** The error a result carries: MCP's `isError: true`, or the AI SDK's `{ error }` for a failed tool. */
function failureOf(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  if (value.isError === true) return summarize(value);
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === 'error') return summarize(value.error);
  return undefined;
}

function describeResult(toolName: string, content: string): string {
  const value = parseResult(content);
  const failure = failureOf(value);
  if (failure !== undefined) return `The tool ${toolName} failed: ${truncate(failure, RESULT_MAX_CHARS)}`;
  const summary = truncate(summarize(value), RESULT_MAX_CHARS);
  return `Here is what I found with ${toolName}: ${summary || 'an empty result'}`;
}

/** Tool call id → tool name, from every assistant message's tool calls. */
function toolNamesByCallId(messages: ChatMessage[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const message of messages) {
    for (const call of message.tool_calls ?? []) names.set(call.id, call.function.name);
  }
  return names;
}

function describeResults(results: ChatMessage[], names: Map<string, string>): string {
  return results
    .map((result) => describeResult(names.get(result.tool_call_id ?? '') ?? 'a tool', messageText(result)))
    .join(' ');
}

function longAnswer(): string {
  const vocabulary = (
    'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et ' +
    'dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea ' +
    'commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur'
  ).split(' ');
  const words: string[] = [];
  for (let index = 0; index < LONG_ANSWER_WORDS; index += 1) {
    let word = vocabulary[index % vocabulary.length]!;
    const position = index % LONG_ANSWER_SENTENCE_WORDS;
    if (position === 0) word = word[0]!.toUpperCase() + word.slice(1);
    if (position === LONG_ANSWER_SENTENCE_WORDS - 1 || index === LONG_ANSWER_WORDS - 1) word += '.';
    words.push(word);
  }
  return words.join(' ');
}

function textAnswer(userText: string, tools: ChatTool[], magic: MagicPhrases): string {
  if (magic.long) return longAnswer();
  const echo = truncate(userText, ECHO_MAX_CHARS);
  const opening = echo ? `You said: "${echo}".` : 'You did not say anything yet.';
  let text = `${opening} I am the local model of MCP Stack Agents: I answer deterministically, so the same conversation always gets this same reply.`;
  if (tools.length > 0) {
    const names = tools.map((tool) => tool.function.name).join(', ');
    text += ` None of my tools (${names}) matches your message; say "use <tool name>" to call one.`;
  }
  return text;
}

function callTool(tool: ChatTool, userText: string): Reply {
  return {
    kind: 'tool_call',
    toolName: tool.function.name,
    arguments: JSON.stringify(buildArguments(tool, userText)),
  };
}

/** The answer to a request, by the README's rules in order. */
export function decideReply(request: ChatCompletionRequest): Reply {
  const { messages } = request;
  const tools = request.tools ?? [];
  const toolChoice = request.tool_choice ?? 'auto';
  const user = lastUserMessage(messages);
  const names = toolNamesByCallId(messages);

  // 0. A tool_choice that demands a call gets one, whatever the conversation says (OpenAI's semantics).
  if (tools.length > 0 && (toolChoice === 'required' || typeof toolChoice === 'object')) {
    const tool =
      typeof toolChoice === 'object'
        ? tools.find((candidate) => candidate.function.name === toolChoice.function.name)
        : (matchTool(user.text, tools) ?? tools[0]);
    if (tool) return callTool(tool, user.text);
  }

  // 1. Tool results came back: answer from them (or, asked to with `[retry-tools]`, call the last tool again,
  // as a model insisting on a failing tool does).
  const last = messages.at(-1);
  if (last?.role === 'tool' && readMagicPhrases(request).retryTools) {
    const again = tools.find((tool) => tool.function.name === names.get(last.tool_call_id ?? ''));
    if (again) return callTool(again, user.text);
  }
  if (messages.at(-1)?.role === 'tool') {
    const firstResult = messages.findLastIndex((message) => message.role !== 'tool') + 1;
    return { kind: 'text', text: describeResults(messages.slice(firstResult), names) };
  }

  // 2. The user asks for what a tool does: call it, unless it already answered this user message.
  if (tools.length > 0 && toolChoice !== 'none') {
    const tool = matchTool(user.text, tools);
    if (tool) {
      const answered = messages
        .slice(user.index + 1)
        .filter(
          (message) =>
            message.role === 'tool' && names.get(message.tool_call_id ?? '') === tool.function.name,
        );
      if (answered.length === 0) return callTool(tool, user.text);
      return { kind: 'text', text: describeResults(answered, names) };
    }
  }

  // 3. Plain text.
  return { kind: 'text', text: textAnswer(user.text, tools, readMagicPhrases(request)) };
}
