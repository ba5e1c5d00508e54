import { z } from 'zod';
import { type AdmissionGate, gateKey, gateLease } from './chat-admit.ts';
import { defineScript, statusReply } from './define-script.ts';

export interface ConversationAppendKeys {
  /** Hash: the conversation (id, agent, owner, title, times, message count). */
  conversation: string;
  /** List: its messages (JSON). */
  messages: string;
  /** Sorted set: the agent's conversations by last update (ms). */
  index: string;
  /** String: the marker of its live answer. */
  liveAnswer: string;
}

export interface ConversationAppendArgs {
  agentId: string;
  /** "visitor:<id>" or "user:<id>". */
  owner: string;
  conversationId: string;
  now: Date;
  /** 0: kept until deleted. */
  ttlSeconds: number;
  maxMessages: number;
  /** A missing conversation may be created (with `title`). */
  create: boolean;
  /** Reply the whole history after the append. */
  history: boolean;
  title: string;
  /** Regenerate: drop a trailing assistant message first. */
  dropTrailingAssistant: boolean;
  /** Messages still to come in this turn (the answer), which must fit too. */
  reserve: number;
  /** The marker of the answer about to stream, set with the append (never on a repeat). */
  liveMarker: { value: string; ttlMs: number } | null;
  /** Sent behind the turn's admission: done only when it admitted the turn (else `not_admitted`). */
  admission: AdmissionGate | null;
  /** The messages to append, as JSON. */
  messages: string[];
}

/**
 * conversation-append.lua: appends messages, creating the conversation on first use, in one step.
 * `ok` and `repeat` (the user message was sent again and is not answered yet: nothing appended)
 * carry the history when asked for; `not_found`: another agent's or owner's, or missing; `full`: no
 * room left; `answered`: the message sent again was answered already; `not_admitted`: its gate's
 * admission did not let the turn in (nothing done).
 */
export const conversationAppend = defineScript({
  file: 'conversation-append.lua',
  keyCount: 5,
  encode: (keys: ConversationAppendKeys, args: ConversationAppendArgs) => ({
    keys: [
      keys.conversation,
      keys.messages,
      keys.index,
      keys.liveAnswer,
      gateKey(args.admission, keys.conversation),
    ],
    args: [
      args.agentId,
      args.owner,
      args.conversationId,
      args.now.toISOString(),
      args.now.getTime(),
      args.ttlSeconds,
      args.maxMessages,
      [args.create ? 'create' : '', args.history ? 'history' : ''].join(','),
      args.title,
      args.dropTrailingAssistant ? 'drop-trailing-assistant' : '',
      args.reserve,
      args.liveMarker?.value ?? '',
      args.liveMarker?.ttlMs ?? 0,
      gateLease(args.admission),
      ...args.messages,
    ],
  }),
  reply: z.union([
    z
      .tuple([z.enum(['ok', 'repeat'])], z.string())
      .transform(([status, ...history]) => ({ status, messages: history })),
    z.tuple([z.literal('full'), z.number()]).transform(([status, count]) => ({ status, count })),
    statusReply('not_found', 'answered', 'not_admitted'),
  ]),
});
