/**
 * Which tool a user message asks for, and the arguments to call it with: plain word overlap and pattern
 * matching, so the outcome is predictable from the message and the tool definitions (see the README).
 */
import type { ChatTool, JsonSchema } from './chat-request.ts';

/** Words too common to say which tool a message wants. `call`, `use` and `tool` are the forcing syntax. */
const stopWords = new Set(
  (
    'the and for with that this these those what which who whom whose how why when where are was were been ' +
    'being have has had does did doing can could would should will shall may might must you your yours our ' +
    'ours their theirs them they she her him his its from into onto about please tell show give want need ' +
    'know let like any all some there here then than too very just also not but out off over under again ' +
    'each both few more most other such only own same now hey hello thanks thank yes okay call use tool tools ' +
    'using via able way something anything thing things one'
  ).split(' '),
);

/** Drops a plural `s` (`orders` → `order`) so a message and a tool name meet on the same word. */
function stem(word: string): string {
  return word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
}

/** Lowercased alphanumeric words of 3 or more characters, minus stop words, plural `s` dropped. */
export function significantWords(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? [])
    .filter((word) => word.length >= 3 && !stopWords.has(word))
    .map(stem);
}

/** `getOrder`, `get_order`, `get-order` → `get order`. */
function splitIdentifier(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/[_\-.]+/g, ' ');
}

function toolWords(tool: ChatTool): Set<string> {
  return new Set(
    significantWords(`${splitIdentifier(tool.function.name)} ${tool.function.description ?? ''}`),
  );
}

/** How many distinct significant words of the message occur in the tool's name and description. */
export function scoreTool(message: string, tool: ChatTool): number {
  const words = toolWords(tool);
  return new Set(significantWords(message).filter((word) => words.has(word))).size;
}

/** The tool named by `call <name>` or `use <name>` in the message (case-insensitive), if any. */
export function forcedTool(message: string, tools: ChatTool[]): ChatTool | undefined {
  for (const match of message.matchAll(/\b(?:call|use)\s+[`'"]?([a-zA-Z0-9_-]+)/gi)) {
    const name = match[1]!.toLowerCase();
    const tool = tools.find((candidate) => candidate.function.name.toLowerCase() === name);
    if (tool) return tool;
  }
  return undefined;
}

/** The forced tool, else the best-scoring tool with a score of at least 1 (ties go to the first listed). */
export function matchTool(message: string, tools: ChatTool[]): ChatTool | undefined {
  const forced = forcedTool(message, tools);
  if (forced) return forced;
  let best: ChatTool | undefined;
  let bestScore = 0;
  for (const tool of tools) {
    const score = scoreTool(message, tool);
    if (score > bestScore) {
      best = tool;
      bestScore = score;
    }
  }
  return best;
}

/** What a message offers as argument values, each list consumed in order as properties take from it. */
interface Candidates {
  message: string;
  numbers: number[];
  numbersTaken: number;
  quoted: string[];
  ids: string[];
  /** The message's last significant word, in its original case. */
  lastWord: string | undefined;
}

function findCandidates(message: string, toolName: string): Candidates {
  // A number standing alone, not the digits of an id like `A-1001` or `ord_123`.
  const standalone = [...message.matchAll(/(?<![\w.-])-?\d+(?:\.\d+)?(?![\w-]|\.\d)/g)].map((match) =>
    Number(match[0]),
  );
  const anywhere = [...message.matchAll(/\d+(?:\.\d+)?/g)].map((match) => Number(match[0]));
  const quoted = [...message.matchAll(/"([^"]+)"|“([^”]+)”|(?<![\w])'([^']+)'(?![\w])/g)].map(
    (match) => match[1] ?? match[2] ?? match[3] ?? '',
  );
  const tokens = message
    .split(/\s+/)
    .map((token) => token.replace(/^[^\w]+|[^\w]+$/g, ''))
    .filter(Boolean);
  // An id has a digit but is not a plain number (`A-1001`, `ord_123`, `v2`); plain numbers go to numbers.
  const ids = tokens.filter(
    (token) =>
      /\d/.test(token) &&
      /^[\w-]+$/.test(token) &&
      !/^\d+$/.test(token) &&
      token.toLowerCase() !== toolName.toLowerCase(),
  );
  const lastWord = tokens
    .filter((token) => /^[\w-]+$/.test(token) && token.toLowerCase() !== toolName.toLowerCase())
    .filter((token) => significantWords(token).length > 0)
    .at(-1);
  return {
    message,
    numbers: standalone.length > 0 ? standalone : anywhere,
    numbersTaken: 0,
    quoted,
    ids,
    lastWord,
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The property's name as it may be written in a message: `orderId`, `order_id` or `order id`. */
function nameForms(property: string): string[] {
  return [...new Set([property, splitIdentifier(property).toLowerCase()])];
}

function mentions(message: string, property: string): boolean {
  return nameForms(property).some((form) => new RegExp(`\\b${escapeRegExp(form)}\\b`, 'i').test(message));
}

/** The word after the property's name: `city Paris`, `city is Paris`, `city: Paris`, `city=Paris`. */
function wordAfterName(message: string, property: string): string | undefined {
  for (const form of nameForms(property)) {
    const pattern = new RegExp(`\\b${escapeRegExp(form)}\\b\\s*(?:is\\s+|=\\s*|:\\s*)?([\\w.@-]+)`, 'i');
    const word = pattern.exec(message)?.[1]?.replace(/\.+$/, '');
    if (word) return word;
  }
  return undefined;
}

/** The schema's type, the first non-null branch of a union, or `string` when it says nothing. */
function schemaType(schema: JsonSchema): string {
  if (Array.isArray(schema.type)) return schema.type.find((type) => type !== 'null') ?? 'null';
  if (schema.type) return schema.type;
  if (schema.properties) return 'object';
  const branch = (schema.anyOf ?? schema.oneOf)?.find((option) => schemaType(option) !== 'null');
  return branch ? schemaType(branch) : 'string';
}

function branchOf(schema: JsonSchema): JsonSchema {
  if (schema.type || schema.properties) return schema;
  return (schema.anyOf ?? schema.oneOf)?.find((option) => schemaType(option) !== 'null') ?? schema;
}

const absent = Symbol('absent');

/** A value for one property, or `absent` when the message offers none and the property is optional. */
function valueFor(
  property: string,
  rawSchema: JsonSchema,
  required: boolean,
  candidates: Candidates,
): unknown | typeof absent {
  const schema = branchOf(rawSchema);
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) {
    const named = schema.enum.find(
      (value) =>
        typeof value === 'string' &&
        new RegExp(`(?<![\\w])${escapeRegExp(value)}(?![\\w])`, 'i').test(candidates.message),
    );
    return named ?? schema.enum[0];
  }
  const type = schemaType(schema);
  switch (type) {
    case 'integer':
    case 'number': {
      // The first numeric property takes the first number, the second the second, and so on; once the
      // message runs out, the first again.
      const value = candidates.numbers[candidates.numbersTaken] ?? candidates.numbers[0];
      candidates.numbersTaken += 1;
      if (value !== undefined) return type === 'integer' ? Math.trunc(value) : value;
      if (schema.default !== undefined) return schema.default;
      return required ? 0 : absent;
    }
    case 'boolean':
      return mentions(candidates.message, property);
    case 'object':
      return required || mentions(candidates.message, property) ? buildObject(schema, candidates) : absent;
    case 'array':
      return required ? [] : absent;
    case 'null':
      return null;
    default: {
      const value =
        candidates.quoted.shift() ?? candidates.ids.shift() ?? wordAfterName(candidates.message, property);
      if (value !== undefined) return value;
      if (schema.default !== undefined) return schema.default;
      return required ? (candidates.lastWord ?? '') : absent;
    }
  }
}

function buildObject(schema: JsonSchema, candidates: Candidates): Record<string, unknown> {
  const properties = schema.properties ?? {};
  const required = (schema.required ?? []).filter((name) => name in properties);
  // Required properties take from the message first; the result keeps the schema's property order.
  const order = [...required, ...Object.keys(properties).filter((name) => !required.includes(name))];
  const values = new Map<string, unknown>();
  for (const name of order) {
    const value = valueFor(name, properties[name]!, required.includes(name), candidates);
    if (value !== absent) values.set(name, value);
  }
  const result: Record<string, unknown> = {};
  for (const name of Object.keys(properties)) if (values.has(name)) result[name] = values.get(name);
  return result;
}

/** The arguments for calling `tool` on behalf of `message`, built from the tool's JSON Schema. */
export function buildArguments(tool: ChatTool, message: string): Record<string, unknown> {
  return buildObject(tool.function.parameters ?? {}, findCandidates(message, tool.function.name));
}
