/**
 * The part of OpenAI's Chat Completions request body that the local model reads, and its validation.
 * Fields it does not read (temperature, stop, n, seed, …) are accepted and kept, as OpenAI keeps them.
 */

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface ChatContentPart {
  type: string;
  text?: string;
}

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: ChatRole;
  /** A string, an array of content parts, or null (an assistant message that only calls tools). */
  content?: string | ChatContentPart[] | null;
  name?: string;
  tool_calls?: ChatToolCall[];
  /** On a `tool` message: the id of the assistant's tool call this message answers. */
  tool_call_id?: string;
}

/** A JSON Schema, as far as the local model reads one to build tool arguments. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  description?: string;
}

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: JsonSchema; strict?: boolean };
}

export type ChatToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  tools?: ChatTool[];
  tool_choice?: ChatToolChoice;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  [field: string]: unknown;
}

/** Why a body is not a valid request: the fields of OpenAI's `invalid_request_error`. */
export interface RequestProblem {
  message: string;
  param: string | null;
  code: string | null;
}

export type ParsedRequest =
  | { ok: true; request: ChatCompletionRequest }
  | { ok: false; problem: RequestProblem };

const roles: readonly string[] = ['system', 'developer', 'user', 'assistant', 'tool'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

function missing(param: string): RequestProblem {
  return { message: `Missing required parameter: '${param}'.`, param, code: 'missing_required_parameter' };
}

function invalidType(param: string, expected: string, value: unknown): RequestProblem {
  return {
    message: `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`,
    param,
    code: 'invalid_type',
  };
}

function invalidValue(param: string, message: string): RequestProblem {
  return { message: `Invalid '${param}': ${message}`, param, code: 'invalid_value' };
}

function checkMessage(message: unknown, index: number): RequestProblem | undefined {
  const param = `messages[${index}]`;
  if (!isRecord(message)) return invalidType(param, 'an object', message);
  if (message.role === undefined) return missing(`${param}.role`);
  if (typeof message.role !== 'string' || !roles.includes(message.role)) {
    return invalidValue(
      `${param}.role`,
      `expected one of 'system', 'developer', 'user', 'assistant', 'tool', but got ${JSON.stringify(message.role)}.`,
    );
  }
  const content = message.content;
  if (content !== undefined && content !== null && typeof content !== 'string') {
    if (!Array.isArray(content)) {
      return invalidType(`${param}.content`, 'one of a string or array of objects', content);
    }
    for (const [partIndex, part] of content.entries()) {
      if (!isRecord(part) || typeof part.type !== 'string') {
        return invalidType(`${param}.content[${partIndex}]`, 'an object with a string type', part);
      }
      if (part.type === 'text' && typeof part.text !== 'string') {
        return invalidType(`${param}.content[${partIndex}].text`, 'a string', part.text);
      }
    }
  }
  if ((content === undefined || content === null) && message.role !== 'assistant') {
    return missing(`${param}.content`);
  }
  if (message.role === 'tool' && typeof message.tool_call_id !== 'string') {
    return message.tool_call_id === undefined
      ? missing(`${param}.tool_call_id`)
      : invalidType(`${param}.tool_call_id`, 'a string', message.tool_call_id);
  }
  if (message.tool_calls !== undefined) {
    if (!Array.isArray(message.tool_calls)) {
      return invalidType(`${param}.tool_calls`, 'an array', message.tool_calls);
    }
    for (const [callIndex, call] of message.tool_calls.entries()) {
      const callParam = `${param}.tool_calls[${callIndex}]`;
      if (!isRecord(call)) return invalidType(callParam, 'an object', call);
      if (typeof call.id !== 'string') return invalidType(`${callParam}.id`, 'a string', call.id);
      const fn = call.function;
      if (!isRecord(fn)) return invalidType(`${callParam}.function`, 'an object', fn);
      if (typeof fn.name !== 'string') return invalidType(`${callParam}.function.name`, 'a string', fn.name);
      if (typeof fn.arguments !== 'string') {
        return invalidType(`${callParam}.function.arguments`, 'a string', fn.arguments);
      }
    }
  }
  return undefined;
}

function checkTools(tools: unknown): RequestProblem | undefined {
  if (!Array.isArray(tools)) return invalidType('tools', 'an array', tools);
  for (const [index, tool] of tools.entries()) {
    const param = `tools[${index}]`;
    if (!isRecord(tool)) return invalidType(param, 'an object', tool);
    if (tool.type !== 'function') {
      return invalidValue(`${param}.type`, `expected 'function', but got ${JSON.stringify(tool.type)}.`);
    }
    const fn = tool.function;
    if (!isRecord(fn))
      return fn === undefined ? missing(`${param}.function`) : invalidType(param, 'an object', fn);
    if (typeof fn.name !== 'string') {
      return fn.name === undefined
        ? missing(`${param}.function.name`)
        : invalidType(`${param}.function.name`, 'a string', fn.name);
    }
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(fn.name)) {
      return invalidValue(
        `${param}.function.name`,
        "string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
      );
    }
    if (fn.description !== undefined && typeof fn.description !== 'string') {
      return invalidType(`${param}.function.description`, 'a string', fn.description);
    }
    if (fn.parameters !== undefined && !isRecord(fn.parameters)) {
      return invalidType(`${param}.function.parameters`, 'an object', fn.parameters);
    }
  }
  return undefined;
}

function checkToolChoice(choice: unknown): RequestProblem | undefined {
  if (choice === 'none' || choice === 'auto' || choice === 'required') return undefined;
  if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function)) {
    if (typeof choice.function.name === 'string') return undefined;
  }
  return invalidValue(
    'tool_choice',
    "expected 'none', 'auto', 'required' or an object naming a function, like { type: 'function', function: { name } }.",
  );
}

function checkTokenLimit(body: Record<string, unknown>, param: string): RequestProblem | undefined {
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) return invalidType(param, 'an integer', value);
  if (value < 1) {
    return {
      message: `Invalid '${param}': integer below minimum value. Expected a value >= 1, but got ${value} instead.`,
      param,
      code: 'integer_below_min_value',
    };
  }
  return undefined;
}

/** Checks a parsed JSON body the way OpenAI does, field by field, and names the first field that is wrong. */
export function parseChatCompletionRequest(body: unknown): ParsedRequest {
  const problem = findProblem(body);
  if (problem) return { ok: false, problem };
  return { ok: true, request: body as ChatCompletionRequest };
}

function findProblem(body: unknown): RequestProblem | undefined {
  if (!isRecord(body)) return invalidType('body', 'an object', body);
  if (body.model === undefined) return missing('model');
  if (typeof body.model !== 'string') return invalidType('model', 'a string', body.model);
  if (body.messages === undefined) return missing('messages');
  if (!Array.isArray(body.messages)) return invalidType('messages', 'an array', body.messages);
  if (body.messages.length === 0) {
    return {
      message:
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      param: 'messages',
      code: 'empty_array',
    };
  }
  for (const [index, message] of body.messages.entries()) {
    const problem = checkMessage(message, index);
    if (problem) return problem;
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    return invalidType('stream', 'a boolean', body.stream);
  }
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (!isRecord(body.stream_options))
      return invalidType('stream_options', 'an object', body.stream_options);
    const includeUsage = body.stream_options.include_usage;
    if (includeUsage !== undefined && typeof includeUsage !== 'boolean') {
      return invalidType('stream_options.include_usage', 'a boolean', includeUsage);
    }
  }
  if (body.tools !== undefined) {
    const problem = checkTools(body.tools);
    if (problem) return problem;
  }
  if (body.tool_choice !== undefined) {
    const problem = checkToolChoice(body.tool_choice);
    if (problem) return problem;
  }
  return checkTokenLimit(body, 'max_tokens') ?? checkTokenLimit(body, 'max_completion_tokens');
}

/** The text of a message's content: a string as is, content parts' texts joined by a newline. */
export function messageText(message: ChatMessage): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text)
    .join('\n');
}
