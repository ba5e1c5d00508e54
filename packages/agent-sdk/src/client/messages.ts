/**
 * Chat messages as the AI SDK's `UIMessage` shapes them (the service stores and serves them so),
 * narrowed to the parts the widget shows: text and dynamic (MCP) tool calls. Other parts are kept
 * out rather than guessed at.
 */
export interface TextPart {
  type: 'text';
  text: string;
  /** `streaming` while its text-delta chunks are still coming. */
  state?: 'streaming' | 'done';
}

/** A tool call of the agent; MCP tools are dynamic tools in the AI SDK. */
export interface ToolCallPart {
  type: 'dynamic-tool';
  toolCallId: string;
  /** The tool's name on its MCP server, e.g. `get_order`. */
  toolName: string;
  /** The tool's display name, e.g. `Get order`, when its server gave one. */
  title?: string;
  state: 'input-streaming' | 'input-available' | 'output-available' | 'output-error';
  input?: unknown;
  output?: unknown;
  errorText?: string;
}

export type MessagePart = TextPart | ToolCallPart;

export interface ChatMessage {
  id: string;
  role: 'user' | 'assistant';
  parts: MessagePart[];
}

/** A chunk of the AI SDK UI message stream; only the fields the widget reads are typed. */
export interface StreamChunk {
  type: string;
  [field: string]: unknown;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** `get_order` → `Get order`: the name to show when a tool has no title. */
export function toolDisplayName(part: Pick<ToolCallPart, 'toolName' | 'title'>): string {
  if (part.title) return part.title;
  const words = part.toolName
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_\-.]+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The text of a message, its text parts joined. */
export function messageText(message: ChatMessage): string {
  return message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

const toolStates: Record<string, ToolCallPart['state']> = {
  'tool-input-start': 'input-streaming',
  'tool-input-available': 'input-available',
  'tool-output-available': 'output-available',
  'tool-input-error': 'output-error',
  'tool-output-error': 'output-error',
  'tool-output-denied': 'output-error',
};

const shownStates = ['input-available', 'output-available', 'output-error'];

/** A tool part with the fields `source` carries (strings checked: they are shown as text). */
function toolPart(
  previous: Partial<ToolCallPart> | undefined,
  source: Record<string, unknown>,
  state: ToolCallPart['state'],
) {
  const part = {
    ...previous,
    type: 'dynamic-tool',
    toolCallId: String(source.toolCallId),
    state,
  } as ToolCallPart;
  for (const field of ['toolName', 'title', 'errorText'] as const) {
    const value = text(source[field]);
    if (value) part[field] = value;
  }
  if ('input' in source) part.input = source.input;
  if ('output' in source) part.output = source.output;
  part.toolName ??= 'tool';
  if (state === 'output-error') part.errorText ??= 'The tool failed';
  return part;
}

/**
 * Folds stream chunks into the assistant message being answered, the way the AI SDK's
 * `readUIMessageStream` does for the part types above. Each `apply` makes a new message object
 * and new objects for the parts it changed, so a UI can compare by reference.
 */
export class MessageBuilder {
  message: ChatMessage;
  /** Parts index where the current step began (`reset-step` drops what came after). */
  private stepStart = 0;
  private readonly texts = new Map<unknown, TextPart>();

  constructor(id: string) {
    this.message = { id, role: 'assistant', parts: [] };
  }

  /** Applies one chunk; returns the tool call it changed, if any (for `tool-call` events). */
  apply(chunk: StreamChunk): ToolCallPart | undefined {
    const parts = [...this.message.parts];
    const { type } = chunk;
    const put = (previous: MessagePart | undefined, next: MessagePart) => {
      const index = previous ? parts.indexOf(previous) : -1;
      if (index >= 0) parts[index] = next;
      else parts.push(next);
    };
    let tool: ToolCallPart | undefined;
    if (type === 'start') {
      this.message.id = text(chunk.messageId) ?? this.message.id;
      return undefined;
    }
    if (type === 'start-step') {
      this.stepStart = parts.length;
      return undefined;
    }
    if (type === 'reset-step') parts.length = this.stepStart;
    else if (type === 'text-start' || type === 'text-delta' || type === 'text-end') {
      const previous = type === 'text-start' ? undefined : this.texts.get(chunk.id);
      const next: TextPart = {
        type: 'text',
        text: (previous?.text ?? '') + (text(chunk.delta) ?? ''),
        state: type === 'text-end' ? 'done' : 'streaming',
      };
      put(previous, next);
      this.texts.set(chunk.id, next);
    } else {
      const state = toolStates[type];
      // A preliminary output is an update of a running tool, not its end.
      if (!state || chunk.preliminary === true) return undefined;
      const previous = parts.find(
        (part): part is ToolCallPart => part.type === 'dynamic-tool' && part.toolCallId === chunk.toolCallId,
      );
      tool = toolPart(previous, chunk, state);
      if (type === 'tool-output-denied') tool.errorText = 'The tool call was denied';
      put(previous, tool);
    }
    this.message = { ...this.message, parts };
    return tool;
  }
}

/**
 * A message from the history endpoint, checked and narrowed (it is the server's JSON: a wrong
 * shape is dropped, never trusted). MCP tools are dynamic tools: other tool parts are not shown.
 */
export function toChatMessage(value: unknown): ChatMessage | null {
  const { id, role, parts } = (value ?? {}) as Record<string, unknown>;
  if (typeof id !== 'string' || (role !== 'user' && role !== 'assistant') || !Array.isArray(parts))
    return null;
  const kept: MessagePart[] = [];
  for (const part of parts as Record<string, unknown>[]) {
    if (part?.type === 'text' && typeof part.text === 'string') {
      kept.push({ type: 'text', text: part.text, state: 'done' });
    } else if (part?.type === 'dynamic-tool') {
      const state = shownStates.includes(part.state as string)
        ? (part.state as ToolCallPart['state'])
        : part.state === 'output-denied'
          ? 'output-error'
          : 'input-streaming';
      kept.push(toolPart(undefined, part, state));
    }
  }
  return { id, role, parts: kept };
}
