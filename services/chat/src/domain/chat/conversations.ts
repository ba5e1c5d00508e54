import type { UIMessage } from 'ai';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import type { Page, PageRequest } from '../../storage/collection.ts';
import type { AdmissionGate } from '../../storage/scripts/chat-admit.ts';
import type { VisitorBudget } from '../budgets/visitor-budget.ts';
import type { Owner } from '../owner.ts';

type ConversationDeps = Pick<Deps, 'redis' | 'scripts' | 'keys' | 'clock' | 'env'>;

/** Who a conversation belongs to: an anonymous visitor (widget-kept id) or an identified user. */
export type ConversationOwner = Owner;

export interface ConversationView {
  id: string;
  agentId: string;
  visitorId: string | null;
  externalUserId: string | null;
  title: string;
  messageCount: number;
  createdAt: string;
  updatedAt: string;
}

/** A stored message: the AI SDK's UI message, so history is served exactly as `useChat` reads it. */
/** `budget`: the visitor's budget meter when the answer finished (see visitor-budget.ts). */
export type StoredMessage = UIMessage<{ createdAt?: string; budget?: VisitorBudget }>;

const storedMessage = z.looseObject({
  id: z.string(),
  role: z.enum(['system', 'user', 'assistant']),
  parts: z.array(z.looseObject({ type: z.string() })),
});

const ownerTag = (owner: ConversationOwner) => `${owner.kind}:${owner.id}`;

function parseOwner(tag: string): ConversationOwner {
  const at = tag.indexOf(':');
  return { kind: tag.slice(0, at) === 'user' ? 'user' : 'visitor', id: tag.slice(at + 1) };
}

function viewOf(hash: Record<string, string>): ConversationView {
  const owner = parseOwner(hash.owner ?? 'visitor:');
  return {
    id: hash.id ?? '',
    agentId: hash.agentId ?? '',
    visitorId: owner.kind === 'visitor' ? owner.id : null,
    externalUserId: owner.kind === 'user' ? owner.id : null,
    title: hash.title ?? '',
    messageCount: Number(hash.messageCount ?? 0),
    createdAt: hash.createdAt ?? '',
    updatedAt: hash.updatedAt ?? hash.createdAt ?? '',
  };
}

function parseMessages(raw: readonly string[]): StoredMessage[] {
  return raw.map((json) => storedMessage.parse(JSON.parse(json)) as StoredMessage);
}

export function titleFrom(message: StoredMessage): string {
  const text = message.parts
    .map((part) => (part.type === 'text' ? part.text : ''))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

interface AppendOptions {
  organizationId: string;
  agentId: string;
  conversationId: string;
  owner: ConversationOwner;
  messages: StoredMessage[];
  /** A missing conversation may be created (a visitor's first message). */
  create: boolean;
  /** Return the whole history after the append. */
  history: boolean;
  /** Regenerate: drop a trailing assistant message first. */
  dropTrailingAssistant?: boolean;
  /** Messages still to come in this turn (the answer), which must fit too. */
  reserve?: number;
  /** The live marker of the answer about to stream, set when the messages are appended (not on a repeat). */
  liveMarker?: { value: string; ttlMs: number };
  /**
   * Sent behind the turn's admission in its round trip: appended only when that admission let the
   * turn in; else nothing is done and the result is null.
   */
  admission?: AdmissionGate;
}

/** What an append left: the history (when asked for), whether the message was a repeat, the bytes stored. */
export interface Appended {
  messages: StoredMessage[];
  repeated: boolean;
  appendedBytes: number;
}

/**
 * Appends messages in one atomic step that also checks the conversation belongs to this agent and
 * owner (anyone else gets 404, as if it did not exist) and that it has room left. `appendedBytes`:
 * the size of the messages as stored.
 */
export async function appendMessages(
  deps: ConversationDeps,
  options: AppendOptions & { admission?: undefined },
): Promise<Appended>;
export async function appendMessages(
  deps: ConversationDeps,
  options: AppendOptions,
): Promise<Appended | null>;
export async function appendMessages(
  deps: ConversationDeps,
  options: AppendOptions,
): Promise<Appended | null> {
  const keys = deps.keys.organization(options.organizationId);
  const encoded = options.messages.map((message) => JSON.stringify(message));
  const now = deps.clock.now();
  const first = options.messages.find((message) => message.role === 'user');
  const reply = await deps.scripts.conversationAppend(
    {
      conversation: keys.conversation(options.conversationId),
      messages: keys.conversationMessages(options.conversationId),
      index: keys.agentConversations(options.agentId),
      liveAnswer: keys.conversationLiveAnswer(options.conversationId),
    },
    {
      agentId: options.agentId,
      owner: ownerTag(options.owner),
      conversationId: options.conversationId,
      now,
      ttlSeconds: deps.env.MCPSTACK_CONVERSATION_RETENTION_DAYS * 86_400,
      maxMessages: deps.env.MCPSTACK_CHAT_MAX_MESSAGES,
      create: options.create,
      history: options.history,
      title: first ? titleFrom(first) : '',
      dropTrailingAssistant: options.dropTrailingAssistant ?? false,
      reserve: options.reserve ?? 0,
      liveMarker: options.liveMarker ?? null,
      admission: options.admission ?? null,
      messages: encoded,
    },
  );
  if (reply.status === 'not_admitted') return null;
  if (reply.status === 'not_found') {
    throw new ApiError(
      'conversation_not_found',
      `No conversation ${options.conversationId} for this visitor`,
    );
  }
  if (reply.status === 'full') {
    throw new ApiError(
      'conversation_too_long',
      `This conversation has reached its limit of ${deps.env.MCPSTACK_CHAT_MAX_MESSAGES} messages: start a new one.`,
      { maxMessages: deps.env.MCPSTACK_CHAT_MAX_MESSAGES },
    );
  }
  if (reply.status === 'answered') {
    throw new ApiError(
      'message_already_answered',
      'This message was already answered: reload the conversation instead of sending it again.',
    );
  }
  return {
    messages: parseMessages(reply.messages),
    repeated: reply.status === 'repeat',
    appendedBytes: encoded.reduce((bytes, text) => bytes + Buffer.byteLength(text, 'utf8'), 0),
  };
}

async function readConversation(deps: ConversationDeps, organizationId: string, conversationId: string) {
  const keys = deps.keys.organization(organizationId);
  const [hash, messages] = await Promise.all([
    deps.redis.hgetall(keys.conversation(conversationId)),
    deps.redis.lrange(keys.conversationMessages(conversationId), 0, -1),
  ]);
  return { hash, messages };
}

/** A conversation and its messages when `belongs` says it is `whose`; else 404, as if it did not exist. */
async function readConversationOf(
  deps: ConversationDeps,
  organizationId: string,
  conversationId: string,
  whose: string,
  belongs: (hash: Record<string, string>) => boolean,
): Promise<{ conversation: ConversationView; messages: StoredMessage[] }> {
  const { hash, messages } = await readConversation(deps, organizationId, conversationId);
  if (!belongs(hash)) {
    throw new ApiError('conversation_not_found', `No conversation ${conversationId} for ${whose}`);
  }
  return { conversation: viewOf(hash), messages: parseMessages(messages) };
}

/** 404 unless the conversation is this owner's, with this agent (nothing else is read). */
export async function assertConversationOwner(
  deps: ConversationDeps,
  organizationId: string,
  agentId: string,
  conversationId: string,
  owner: ConversationOwner,
): Promise<void> {
  const keys = deps.keys.organization(organizationId);
  const [storedAgent, storedOwner] = await deps.redis.hmget(
    keys.conversation(conversationId),
    'agentId',
    'owner',
  );
  if (storedAgent !== agentId || storedOwner !== ownerTag(owner)) {
    throw new ApiError('conversation_not_found', `No conversation ${conversationId} for this visitor`);
  }
}

/** The owner's own history (the chat API): 404 for anyone else. */
export async function ownerMessages(
  deps: ConversationDeps,
  organizationId: string,
  agentId: string,
  conversationId: string,
  owner: ConversationOwner,
): Promise<{ conversation: ConversationView; messages: StoredMessage[] }> {
  return readConversationOf(deps, organizationId, conversationId, 'this visitor', (hash) => {
    return hash.agentId === agentId && hash.owner === ownerTag(owner);
  });
}

/** Management read: any conversation of the agent. */
export async function getConversation(
  deps: ConversationDeps,
  organizationId: string,
  agentId: string,
  conversationId: string,
): Promise<{ conversation: ConversationView; messages: StoredMessage[] }> {
  return readConversationOf(deps, organizationId, conversationId, `agent ${agentId}`, (hash) => {
    return hash.agentId === agentId;
  });
}

/** An agent's conversations, most recently active first; the cursor is the last one's score and id. */
export async function listConversations(
  deps: ConversationDeps,
  organizationId: string,
  agentId: string,
  page: PageRequest,
): Promise<Page<ConversationView>> {
  const keys = deps.keys.organization(organizationId);
  const index = keys.agentConversations(agentId);
  const cursor = decodeCursor(page.cursor);
  // Equal scores come in reverse id order: on the cursor's score, ids at or above its id were served.
  const seen = (score: number, id: string) => cursor !== null && score === cursor.score && id >= cursor.id;
  const max = cursor ? String(cursor.score) : '+inf';
  const data: ConversationView[] = [];
  let offset = 0;
  let last: { score: number; id: string } | null = null;
  while (data.length < page.limit) {
    const batch = await deps.redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', offset, 100);
    if (batch.length === 0) break;
    offset += batch.length / 2;
    const pairs: { id: string; score: number }[] = [];
    for (let i = 0; i < batch.length; i += 2) {
      const id = batch[i] ?? '';
      const score = Number(batch[i + 1]);
      if (!seen(score, id)) pairs.push({ id, score });
    }
    const hashes = await Promise.all(pairs.map(({ id }) => deps.redis.hgetall(keys.conversation(id))));
    for (const [i, pair] of pairs.entries()) {
      const hash = hashes[i] ?? {};
      if (!hash.agentId) continue; // expired under the retention; the next append trims the index
      data.push(viewOf(hash));
      last = pair;
      if (data.length === page.limit) break;
    }
  }
  return { data, nextCursor: data.length === page.limit && last ? encodeCursor(last) : null };
}

function encodeCursor(position: { score: number; id: string }): string {
  return Buffer.from(`${position.score}:${position.id}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): { score: number; id: string } | null {
  if (!cursor) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const at = text.indexOf(':');
  const score = Number(text.slice(0, at));
  if (at < 1 || !Number.isFinite(score))
    throw new ApiError('validation_failed', 'query.cursor: is not valid');
  return { score, id: text.slice(at + 1) };
}
