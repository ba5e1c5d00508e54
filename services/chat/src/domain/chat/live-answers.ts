import { randomBytes } from 'node:crypto';
import type { Deps } from '../../deps.ts';
import type { RedisClient } from '../../storage/redis.ts';
import type { StreamSink } from './ui-stream.ts';

/**
 * Answers being streamed, so that a visitor who reloads the page re-attaches to the same answer
 * instead of asking again (and paying twice): the AI SDK's stream-resume protocol, on our Redis.
 *
 * The answer's own process keeps what it has written so far in memory; Redis only knows which
 * process streams which conversation's answer (one key per live answer, set at its start and removed
 * at its end). A watcher on the same process reads the buffer and follows; a watcher on another
 * instance asks the owner over pub/sub (`<prefix>live:<instance>`), and the owner replays the buffer
 * and then each new piece on a reply channel, until the end. Nothing is published while nobody
 * resumes: the answer's hot path pays one SET and one DEL.
 *
 * The visitor leaving does not stop an answer at once: after `MCPSTACK_CHAT_DETACH_GRACE_MS` with
 * nobody watching, it is aborted (the model and tool calls stop, the call is recorded as aborted).
 * An explicit stop (`DELETE /api/v1/chat/{id}/stream`) aborts it now, from any instance.
 */
export interface LiveAnswerKey {
  organizationId: string;
  conversationId: string;
}

export interface LiveAnswer {
  /** The sink the answer writes through: to `primary` (its first watcher) and to the buffer for the others. */
  through(primary: StreamSink): StreamSink;
  /** The first watcher (the POST that started the answer) went away. */
  unwatch(): void;
  /** The answer will not stream after all (its turn was refused): forget it. */
  cancel(): void;
}

/** Who streams a conversation's answer: `<instance> <answer id>`, for `ttlMs` at the most. */
export interface LiveMarker {
  value: string;
  ttlMs: number;
}

export interface LiveAnswerHub {
  /**
   * Registers an answer about to stream. `abort` is called on an explicit stop, or when nobody has
   * watched it for the detach grace.
   */
  open(key: LiveAnswerKey, abort: (reason: Error) => void, marker?: LiveMarker): Promise<LiveAnswer>;
  /**
   * A marker for an answer about to open, for the conversation's append to set in its own step
   * (`appendMessages`' `liveMarker`), then passed to `open`, which need not set it again.
   */
  marker(): LiveMarker;
  /**
   * Streams a live answer of the conversation into `sink` from its start, and follows it to its end.
   * Resolves false (writing nothing) when no answer is live. `gone` aborts when the watcher leaves.
   */
  attach(key: LiveAnswerKey, sink: StreamSink, gone: AbortSignal): Promise<boolean>;
  /** Whether the conversation has an answer streaming (here or on another instance). */
  isLive(key: LiveAnswerKey): Promise<boolean>;
  /** Stops the conversation's live answer, wherever it streams. False when none was live. */
  stop(key: LiveAnswerKey): Promise<boolean>;
  close(): Promise<void>;
}

type HubDeps = Pick<Deps, 'redis' | 'keys' | 'env' | 'logger'> & {
  scripts: Pick<Deps['scripts'], 'deleteIfEquals'>;
};

interface Entry {
  id: string;
  buffer: string;
  ended: boolean;
  watchers: Set<(text: string | null) => void>;
  primaryWatching: boolean;
  abort: (reason: Error) => void;
  graceTimer: NodeJS.Timeout | null;
}

type Request =
  | { type: 'attach'; answerId: string; reply: string }
  | { type: 'detach'; answerId: string; reply: string }
  | { type: 'stop'; answerId: string };

/** The end of a replayed answer on a reply channel (never part of an SSE text). */
const endOfAnswer = '\u0000end';
/** How long a watcher waits for the owner's first word before taking the answer as gone. */
const ownerAnswerMs = 3000;

export function createLiveAnswerHub(deps: HubDeps): LiveAnswerHub {
  const instance = randomBytes(8).toString('hex');
  const channel = (of: string) => `${deps.keys.prefix}live:${of}`;
  const entries = new Map<string, Entry>();
  const remoteWatchers = new Map<string, (text: string | null) => void>();
  const replies = new Map<string, (message: string) => void>();
  let subscriber: RedisClient | null = null;
  let subscribed: Promise<void> | null = null;
  const liveKey = (key: LiveAnswerKey) =>
    deps.keys.organization(key.organizationId).conversationLiveAnswer(key.conversationId);

  function subscribe(): Promise<void> {
    subscribed ??= (async () => {
      const connection: RedisClient = (deps.redis as { duplicate(): RedisClient }).duplicate();
      subscriber = connection;
      connection.on('error', (error: Error) =>
        deps.logger.warn({ reason: error.message }, 'live-answer subscriber'),
      );
      connection.on('message', (from: string, message: string) => {
        if (from === channel(instance)) onRequest(message);
        else replies.get(from)?.(message);
      });
      await connection.subscribe(channel(instance));
    })().catch((error: unknown) => {
      // Redis was away: the next answer tries again with a fresh connection.
      subscriber?.disconnect();
      subscriber = null;
      subscribed = null;
      throw error;
    });
    return subscribed;
  }

  function watchersChanged(entry: Entry): void {
    const watched = entry.primaryWatching || entry.watchers.size > 0;
    if (watched || entry.ended) {
      if (entry.graceTimer) clearTimeout(entry.graceTimer);
      entry.graceTimer = null;
    } else if (!entry.graceTimer) {
      entry.graceTimer = setTimeout(
        () => entry.abort(new Error('The visitor disconnected')),
        deps.env.MCPSTACK_CHAT_DETACH_GRACE_MS,
      );
    }
  }

  function follow(entry: Entry, write: (text: string | null) => void): () => void {
    if (entry.buffer) write(entry.buffer);
    if (entry.ended) {
      write(null);
      return () => undefined;
    }
    entry.watchers.add(write);
    watchersChanged(entry);
    return () => {
      entry.watchers.delete(write);
      watchersChanged(entry);
    };
  }

  function onRequest(raw: string): void {
    let request: Request;
    try {
      request = JSON.parse(raw) as Request;
    } catch {
      return;
    }
    const entry = [...entries.values()].find((candidate) => candidate.id === request.answerId);
    if (request.type === 'stop') {
      entry?.abort(new Error('The answer was stopped'));
      return;
    }
    if (request.type === 'detach') {
      remoteWatchers.get(request.reply)?.(null);
      return;
    }
    const publish = (text: string | null) => {
      void deps.redis.publish(request.reply, text ?? endOfAnswer).catch(() => undefined);
    };
    if (!entry) {
      publish(null);
      return;
    }
    const unfollow = follow(entry, publish);
    remoteWatchers.set(request.reply, () => {
      remoteWatchers.delete(request.reply);
      unfollow();
    });
  }

  async function owner(key: LiveAnswerKey): Promise<{ instance: string; answerId: string } | null> {
    const value = await deps.redis.get(liveKey(key));
    if (!value) return null;
    const [ownerInstance, answerId] = value.split(' ');
    return ownerInstance && answerId ? { instance: ownerInstance, answerId } : null;
  }

  const newMarker = (): LiveMarker => ({
    value: `${instance} ${randomBytes(12).toString('hex')}`,
    ttlMs: deps.env.MCPSTACK_MODEL_TIMEOUT_MS + deps.env.MCPSTACK_RESERVATION_GRACE_MS,
  });

  return {
    marker: newMarker,

    async open(key, abort, set) {
      const claimed = set ?? newMarker();
      const marker = claimed.value;
      const id = marker.slice(marker.indexOf(' ') + 1);
      const mapKey = `${key.organizationId}\u0000${key.conversationId}`;
      const entry: Entry = {
        id,
        buffer: '',
        ended: false,
        watchers: new Set(),
        primaryWatching: true,
        abort,
        graceTimer: null,
      };
      await Promise.all([
        subscribe(),
        set ? null : deps.redis.set(liveKey(key), marker, 'PX', claimed.ttlMs),
      ]);
      entries.set(mapKey, entry);
      const forget = () => {
        entry.ended = true;
        watchersChanged(entry);
        if (entries.get(mapKey) === entry) entries.delete(mapKey);
        void deps.scripts.deleteIfEquals({ marker: liveKey(key) }, { value: marker }).catch(() => undefined);
      };
      const broadcast = (text: string | null) => {
        for (const watcher of entry.watchers) watcher(text);
      };
      return {
        through(primary) {
          return {
            write(text) {
              entry.buffer += text;
              if (entry.primaryWatching) primary.write(text);
              if (entry.watchers.size > 0) broadcast(text);
            },
            end() {
              forget();
              if (entry.primaryWatching) primary.end();
              broadcast(null);
              entry.watchers.clear();
            },
          };
        },
        unwatch() {
          entry.primaryWatching = false;
          watchersChanged(entry);
        },
        cancel: forget,
      };
    },

    async attach(key, sink, gone) {
      const local = entries.get(`${key.organizationId}\u0000${key.conversationId}`);
      if (local) {
        await new Promise<void>((resolve) => {
          const unfollow = follow(local, (text) => {
            if (text === null) {
              sink.end();
              resolve();
            } else sink.write(text);
          });
          gone.addEventListener(
            'abort',
            () => {
              unfollow();
              resolve();
            },
            { once: true },
          );
        });
        return true;
      }
      const live = await owner(key);
      if (!live || live.instance === instance) return false;
      await subscribe();
      const reply = `${channel(instance)}:reply:${randomBytes(8).toString('hex')}`;
      let wrote = false;
      const done = new Promise<boolean>((resolve) => {
        const finish = () => {
          clearTimeout(silence);
          replies.delete(reply);
          void subscriber?.unsubscribe(reply).catch(() => undefined);
          if (wrote) sink.end();
          resolve(wrote);
        };
        const silence = setTimeout(finish, ownerAnswerMs);
        replies.set(reply, (message) => {
          clearTimeout(silence);
          if (message === endOfAnswer) return finish();
          wrote = true;
          sink.write(message);
        });
        gone.addEventListener(
          'abort',
          () => {
            void deps.redis
              .publish(
                channel(live.instance),
                JSON.stringify({ type: 'detach', answerId: live.answerId, reply }),
              )
              .catch(() => undefined);
            finish();
          },
          { once: true },
        );
      });
      await subscriber?.subscribe(reply);
      await deps.redis.publish(
        channel(live.instance),
        JSON.stringify({ type: 'attach', answerId: live.answerId, reply }),
      );
      return done;
    },

    async isLive(key) {
      if (entries.has(`${key.organizationId}\u0000${key.conversationId}`)) return true;
      return (await owner(key)) !== null;
    },

    async stop(key) {
      const local = entries.get(`${key.organizationId}\u0000${key.conversationId}`);
      if (local) {
        local.abort(new Error('The answer was stopped'));
        return true;
      }
      const live = await owner(key);
      if (!live) return false;
      await deps.redis.publish(
        channel(live.instance),
        JSON.stringify({ type: 'stop', answerId: live.answerId }),
      );
      return true;
    },

    async close() {
      for (const entry of entries.values()) if (entry.graceTimer) clearTimeout(entry.graceTimer);
      if (subscriber) subscriber.disconnect();
    },
  };
}
