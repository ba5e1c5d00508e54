import {
  type ChatBudget,
  type ChatConfig,
  publishableKeyHeader,
  userTokenHeader,
  userTokenProblemHeader,
  type VisitorBudget,
} from '@mcpstack/chat-protocol';
import { Emitter } from './emitter.ts';
import { ChatError, errorFromResponse } from './errors.ts';
import { type ChatMessage, MessageBuilder, type ToolCallPart, toChatMessage } from './messages.ts';
import { type KeyValueStorage, randomId, savedState } from './storage.ts';
import { readChunkStream } from './stream.ts';

/** The agent's public settings (`GET /api/v1/chat/config`), as the service declares them. */
export type AgentConfig = ChatConfig;

export type { VisitorBudget };

/**
 * `idle`: nothing in flight. `submitted`: the message is sent, no answer yet (with a
 * `network_error` in `error` while it waits to retry after a network failure). `streaming`: the
 * answer is arriving.
 * `error`: the last action failed (`error` says why; `retry()` tries again).
 */
export type ChatStatus = 'idle' | 'submitted' | 'streaming' | 'error';

export interface ChatState {
  status: ChatStatus;
  messages: readonly ChatMessage[];
  error: ChatError | null;
  /** The history of a saved conversation is loading. */
  restoring: boolean;
  conversationId: string | null;
  visitorId: string;
  /** Not fatal: the user token was refused and the visitor goes on as a guest. */
  notice: ChatError | null;
  /** The budget meter, once read (`budget()`) or carried by an answer's finish; null when no cap applies. */
  budget: VisitorBudget | null;
}

export interface ChatClientOptions {
  /** The agent's publishable embed key, `mcpstack_pk_…`. */
  publicKey: string;
  /** The service's origin, e.g. `https://chat.example.com`. */
  apiBase: string;
  /** A JWT your backend signed for the logged-in user (see `identify`). */
  userToken?: string | null;
  /** Where the visitor and conversation ids are kept; `localStorage` by default. */
  storage?: KeyValueStorage | null;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** Waits between automatic retries after a network failure; default 1, 2, 4 and 8 seconds. */
  retryDelaysMs?: readonly number[];
  /**
   * A `GET /api/v1/chat/config` already made (the widget's launcher makes it at once to theme
   * itself): its answer serves the first `config()` instead of a second request.
   */
  configResponse?: Promise<Response>;
}

export interface ChatClientEvents {
  /** Any change of the state (each streamed token too). */
  change: ChatState;
  /** A message was sent (the visitor's) or finished (the assistant's). */
  message: ChatMessage;
  /** A tool call started (`input-available`) or ended (`output-available` / `output-error`). */
  'tool-call': ToolCallPart;
  /** A failure, or a notice such as a refused user token (`code` says which). */
  error: ChatError;
  /** A 402: a monthly limit was reached; `scope` says whose. */
  'budget-exceeded': ChatError;
}

export interface ChatClient {
  /** The current state; a new object after every change. */
  readonly state: ChatState;
  /** The agent's settings (fetched once, then cached). */
  config(): Promise<AgentConfig>;
  /** Reads the visitor's budget meter into `state.budget`. */
  budget(): Promise<void>;
  /** Sends the visitor's message; resolves when the answer has ended (failures land in `state.error`). */
  send(text: string): Promise<void>;
  /** Stops the answer being streamed; what arrived stays. */
  stop(): void;
  /** Tries the failed action again (an answer: without sending the visitor's message twice). */
  retry(): Promise<void>;
  /**
   * Loads the saved conversation from the service (after a page reload), and re-attaches to its
   * answer when one was streaming as the page was left (it goes on in `state` as it arrives).
   */
  history(): Promise<readonly ChatMessage[]>;
  /** Forgets the current conversation; the next message starts a new one. */
  newConversation(): void;
  /** Chats as the user the token names (`null`: as an anonymous visitor again). */
  identify(userToken: string | null): void;
  on<E extends keyof ChatClientEvents>(event: E, handler: (payload: ChatClientEvents[E]) => void): () => void;
  /** Stops everything and drops every handler. */
  destroy(): void;
}

type Trigger = 'submit-message' | 'regenerate-message';

const isAbort = (error: unknown) => (error as { name?: string } | null)?.name === 'AbortError';

/**
 * A headless chat client for the MCP Stack chat API: the widget is built on it, and a team can
 * build its own UI on it. It keeps the visitor id and conversation id in `localStorage`, parses
 * the AI SDK UI message stream, retries automatically after a network failure when that is safe
 * (no part of an answer had arrived, and the service is asked first whether it already has the
 * message, so nothing is sent twice), and turns every failure into a {@link ChatError}.
 *
 * @example
 * ```ts
 * import { createChatClient } from '@mcpstack/agent-sdk';
 *
 * const chat = createChatClient({ publicKey: 'mcpstack_pk_…', apiBase: 'https://chat.example.com' });
 * chat.on('change', (state) => render(state.messages));
 * chat.on('error', (error) => console.warn(error.code, friendlyMessage(error)));
 * await chat.history(); // resumes the conversation of the last visit
 * await chat.send('What is the status of order A-1001?');
 * ```
 */
export function createChatClient(options: ChatClientOptions): ChatClient {
  const apiBase = options.apiBase.replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const delays = options.retryDelaysMs ?? [1000, 2000, 4000, 8000];
  const events = new Emitter<ChatClientEvents>();
  const [saved, save] = savedState(options.publicKey, options.storage);
  if (!saved.visitorId) {
    saved.visitorId = randomId('visitor');
    save();
  }

  let userToken = options.userToken || null;
  let preloadedConfig = options.configResponse;
  let tokenProblemReported = false;
  let configPromise: Promise<AgentConfig> | null = null;
  let maxMessageChars: number | undefined;
  let active: AbortController | null = null;
  let retryAction: (() => Promise<void>) | null = null;
  /** Bumped when the conversation changes, so a late history answer cannot overwrite a newer one. */
  let generation = 0;
  let state: ChatState = {
    status: 'idle',
    messages: [],
    error: null,
    restoring: false,
    conversationId: saved.conversationId ?? null,
    visitorId: saved.visitorId,
    notice: null,
    budget: null,
  };

  const set = (patch: Partial<ChatState>) => {
    state = { ...state, ...patch, conversationId: saved.conversationId ?? null };
    events.emit('change', state);
  };

  const fail = (error: ChatError, retry: (() => Promise<void>) | null) => {
    retryAction = retry;
    set({ status: 'error', error, restoring: false });
    events.emit('error', error);
    if (error.code === 'budget_exceeded') events.emit('budget-exceeded', error);
  };

  const toChatError = (error: unknown): ChatError =>
    error instanceof ChatError
      ? error
      : new ChatError('internal_error', error instanceof Error ? error.message : String(error));

  async function call(path: string, init: RequestInit = {}): Promise<Response> {
    const headers: Record<string, string> = { [publishableKeyHeader]: `Bearer ${options.publicKey}` };
    if (init.body) headers['content-type'] = 'application/json';
    // GETs carry the user token in a header: tokens never go in URLs, which get logged.
    else if (userToken) headers[userTokenHeader] = userToken;
    try {
      return await fetchImpl(`${apiBase}${path}`, { ...init, headers });
    } catch (error) {
      if (isAbort(error)) throw error;
      // Offline, DNS, a reset, or a CORS refusal: the browser does not say which.
      throw new ChatError('network_error');
    }
  }

  function noteUserTokenProblem(response: Response) {
    const problem = response.headers.get(userTokenProblemHeader);
    if (!problem || tokenProblemReported) return;
    tokenProblemReported = true;
    const notice = new ChatError(problem, undefined, {
      status: response.status,
    });
    set({ notice });
    events.emit('error', notice);
  }

  const historyPath = (conversationId: string) =>
    `/api/v1/chat/conversations/${encodeURIComponent(conversationId)}/messages?visitorId=${encodeURIComponent(saved.visitorId ?? '')}`;

  const isStream = (response: Response) =>
    response.status === 200 && !!response.headers.get('content-type')?.startsWith('text/event-stream');

  /** `GET` it: 200 and the answer streaming in the conversation (replayed from its start), or 204. */
  const streamPath = (conversationId: string) =>
    `/api/v1/chat/${encodeURIComponent(conversationId)}/stream?visitorId=${encodeURIComponent(saved.visitorId ?? '')}`;

  /** The saved conversation as the service has it; `null` when it has none (404). */
  async function fetchHistory(conversationId: string, signal?: AbortSignal): Promise<ChatMessage[] | null> {
    const response = await call(historyPath(conversationId), { signal });
    if (response.status === 404) return null;
    if (!response.ok) throw await errorFromResponse(response);
    noteUserTokenProblem(response);
    const body = (await response.json()) as { messages?: unknown };
    const messages = Array.isArray(body?.messages) ? body.messages : [];
    return messages.map(toChatMessage).filter((message): message is ChatMessage => message !== null);
  }

  /**
   * Keeps "the answer to message `messageId` is in flight in the saved conversation" in storage
   * (no id: clears it), so a page reloaded mid-answer re-attaches to it rather than losing it.
   */
  const inFlight = (messageId?: string) => {
    if (saved.answering === messageId) return;
    saved.answering = messageId;
    save();
  };

  /** Shows the conversation as the service has it (an answer was made while we could not see it). */
  const showStored = (stored: ChatMessage[]) => {
    inFlight();
    set({ status: 'idle', messages: stored, error: null });
    const last = stored.at(-1);
    if (last) events.emit('message', last);
  };

  /**
   * Shows the answer arriving in `response` after the messages `before` (replacing a partial copy
   * with its id), to its end: `finish` clears the in-flight mark. Throws a ChatError when the
   * stream was cut; `onChunk` hears each chunk.
   */
  async function stream(
    response: Response,
    before: readonly ChatMessage[],
    onChunk: () => void,
  ): Promise<void> {
    if (!response.body) throw new ChatError('stream_interrupted');
    const builder = new MessageBuilder(randomId('msg'));
    let streamError: ChatError | null = null;
    let stopped: ChatError | null = null;
    const chunks = readChunkStream(response.body);
    let next = await chunks.next();
    while (!next.done) {
      const chunk = next.value;
      onChunk();
      if (chunk.type === 'error') {
        streamError = new ChatError('stream_error', String(chunk.errorText ?? 'The answer failed'), {
          status: response.status,
        });
      }
      if (chunk.type === 'finish' || chunk.type === 'error') inFlight();
      const budget = (chunk.messageMetadata as { budget?: VisitorBudget } | undefined)?.budget;
      if (budget) set({ budget });
      // The answer stopped early, saying why in a typed part: a spent budget, a failing tool.
      const data = chunk.data as Record<string, unknown> | undefined;
      if (chunk.type === 'data-budget' || chunk.type === 'data-tool-failures') {
        stopped = new ChatError(String(data?.code ?? 'tool_failures'), String(data?.message ?? ''), {
          status: 200,
          scope: data?.scope as never,
          resetsAt: data?.resetsAt as never,
          details: data ?? {},
        });
      }
      const tool = builder.apply(chunk);
      const { message } = builder;
      const messages =
        message.parts.length > 0 ? [...before.filter((kept) => kept.id !== message.id), message] : null;
      set({ status: 'streaming', error: null, ...(messages ? { messages } : {}) });
      if (tool && tool.state !== 'input-streaming') events.emit('tool-call', tool);
      next = await chunks.next();
    }
    active = null;
    if (streamError) {
      fail(streamError, () => retryLast());
      return;
    }
    if (!next.value) throw new ChatError('stream_interrupted');
    inFlight();
    set({ status: 'idle', error: stopped });
    events.emit('message', builder.message);
    if (stopped) events.emit(stopped.code === 'budget_exceeded' ? 'budget-exceeded' : 'error', stopped);
  }

  /**
   * Re-attaches to the answer to `messageId` if it is still streaming (`GET …/stream`: 200 replays
   * it from its start and goes on live; 204 says none is), after the history `stored` is shown.
   */
  async function resume(
    conversationId: string,
    messageId: string,
    stored: readonly ChatMessage[],
  ): Promise<void> {
    active?.abort();
    const controller = new AbortController();
    active = controller;
    let response: Response;
    try {
      response = await call(streamPath(conversationId), { signal: controller.signal });
    } catch {
      // Offline: the history stays as it is, and the mark too, for the next load.
      if (active === controller) active = null;
      return;
    }
    if (!isStream(response)) {
      // 204 (the history has the whole answer), or nothing to attach to.
      if (active === controller) active = null;
      inFlight();
      return;
    }
    noteUserTokenProblem(response);
    // The answer is replayed from its start: a partial copy in the history gives way to it.
    const index = stored.findIndex((message) => message.id === messageId);
    set({ status: 'submitted', error: null, messages: index >= 0 ? stored.slice(0, index + 1) : stored });
    try {
      await stream(response, state.messages, () => {});
    } catch (caught) {
      if (controller.signal.aborted) return;
      if (active === controller) active = null;
      fail(caught instanceof ChatError ? caught : new ChatError('stream_interrupted'), () => retryLast());
    }
  }

  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        globalThis.removeEventListener?.('online', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      // Back online: try at once rather than at the end of the wait.
      globalThis.addEventListener?.('online', done);
      signal.addEventListener('abort', done);
    });

  /**
   * One answer to `userMessage`. `mode` says what is known of the service's copy: `submit` (it
   * does not have the message), `regenerate` (it does), `reconcile` (unknown: a request failed
   * without an answer, so the history tells whether to send or regenerate, or whether the answer
   * is already there).
   */
  async function answer(
    userMessage: ChatMessage,
    mode: 'submit' | 'regenerate' | 'reconcile',
  ): Promise<void> {
    active?.abort();
    const controller = new AbortController();
    active = controller;
    const { signal } = controller;
    let attempt = 0;
    let restarted = false;
    for (;;) {
      let received = false;
      try {
        let trigger: Trigger = mode === 'regenerate' ? 'regenerate-message' : 'submit-message';
        if (mode === 'reconcile' && saved.conversationId) {
          const stored = await fetchHistory(saved.conversationId, signal);
          const index = stored ? stored.findIndex((message) => message.id === userMessage.id) : -1;
          if (stored && index >= 0 && index < stored.length - 1) {
            // The answer was made while we were cut off: show it rather than asking again.
            showStored(stored);
            return;
          }
          if (index >= 0) {
            // The service has the message: its answer may still be streaming. Attach to it rather
            // than asking for a second one (billed twice); regenerate only when none streams.
            const running = await call(streamPath(saved.conversationId), { signal });
            if (isStream(running)) {
              await stream(running, stored?.slice(0, index + 1) ?? [], () => {
                received = true;
              });
              return;
            }
            trigger = 'regenerate-message';
          }
        }
        set({ status: 'submitted', error: null });
        // The message id is the client's, fixed before the first send: the service answers a
        // repeated send of it without a second model call.
        inFlight(userMessage.id);
        const response = await call('/api/v1/chat', {
          method: 'POST',
          signal,
          body: JSON.stringify({
            id: saved.conversationId,
            messages: [{ id: userMessage.id, role: 'user', parts: userMessage.parts }],
            trigger,
            visitorId: saved.visitorId,
            ...(userToken ? { userToken } : {}),
          }),
        });
        if (!response.ok) {
          const error = await errorFromResponse(response);
          inFlight();
          if (error.code === 'message_already_answered' && saved.conversationId) {
            // Answered already (a send repeated after its answer finished): show that answer.
            showStored((await fetchHistory(saved.conversationId, signal)) ?? [...state.messages]);
            return;
          }
          if (error.code === 'conversation_not_found' && trigger === 'submit-message' && !restarted) {
            // The conversation is another owner's now (the visitor signed in or out): start afresh.
            restarted = true;
            saved.conversationId = randomId('conv');
            save();
            continue;
          }
          throw error;
        }
        noteUserTokenProblem(response);
        const base = state.messages.filter((message) => message.id !== userMessage.id);
        await stream(response, [...base, userMessage], () => {
          received = true;
        });
        return;
      } catch (caught) {
        if (signal.aborted) return;
        // Anything but a ChatError here is the body's read failing: the network, mid-answer or not.
        let error = caught instanceof ChatError ? caught : new ChatError('network_error');
        if (received && error.code === 'network_error') error = new ChatError('stream_interrupted');
        const delay = delays[attempt];
        if (error.code === 'network_error' && !received && delay !== undefined) {
          attempt += 1;
          set({ status: 'submitted', error });
          await sleep(delay, signal);
          if (signal.aborted) return;
          mode = 'reconcile';
          continue;
        }
        if (active === controller) active = null;
        fail(error, () => retryLast());
        return;
      }
    }
  }

  /** Answers the last user message again, dropping a partial answer to it. */
  function retryLast(): Promise<void> {
    const messages = [...state.messages];
    const last = messages.at(-1);
    if (last?.role === 'assistant') {
      messages.pop();
      set({ messages });
      const user = messages.at(-1);
      // Part of an answer arrived, so the service has the message: answer it again.
      return user?.role === 'user' ? answer(user, 'regenerate') : Promise.resolve();
    }
    return last?.role === 'user' ? answer(last, 'reconcile') : Promise.resolve();
  }

  const client: ChatClient = {
    get state() {
      return state;
    },

    config() {
      configPromise ??= (async () => {
        const preloaded = preloadedConfig;
        preloadedConfig = undefined;
        const response = preloaded
          ? await preloaded.catch(() => {
              throw new ChatError('network_error');
            })
          : await call('/api/v1/chat/config');
        if (!response.ok) throw await errorFromResponse(response);
        const config = (await response.json()) as AgentConfig;
        maxMessageChars = config.limits?.maxMessageChars;
        return config;
      })();
      // A failed fetch is not cached: the next call tries again.
      configPromise.catch(() => {
        configPromise = null;
      });
      return configPromise;
    },

    async budget() {
      const response = await call(
        `/api/v1/chat/budget?visitorId=${encodeURIComponent(saved.visitorId ?? '')}`,
      ).catch(() => null);
      if (response?.ok) set({ budget: ((await response.json()) as ChatBudget).budget });
    },

    async send(text) {
      if (text.trim() === '') return;
      if (state.status === 'submitted' || state.status === 'streaming') {
        throw new ChatError('busy', 'An answer is still coming');
      }
      if (maxMessageChars !== undefined && text.length > maxMessageChars) {
        fail(
          new ChatError('message_too_long', undefined, {
            status: 413,
            details: { maxChars: maxMessageChars },
          }),
          null,
        );
        return;
      }
      if (!saved.conversationId) {
        saved.conversationId = randomId('conv');
        save();
        generation += 1;
      }
      const message: ChatMessage = { id: randomId('msg'), role: 'user', parts: [{ type: 'text', text }] };
      set({ status: 'submitted', messages: [...state.messages, message], error: null });
      events.emit('message', message);
      await answer(message, 'submit');
    },

    stop() {
      if (!active) return;
      active.abort();
      active = null;
      // Leaving alone would let the answer run on for a while (a reload may re-attach): stop it there too.
      const conversationId = saved.conversationId;
      if (conversationId) void call(streamPath(conversationId), { method: 'DELETE' }).catch(() => undefined);
      inFlight();
      set({ status: 'idle', error: null });
    },

    async retry() {
      const action = retryAction;
      if (state.status !== 'error' || !action) return;
      retryAction = null;
      await action();
    },

    async history() {
      const conversationId = saved.conversationId;
      if (!conversationId) return state.messages;
      const started = generation;
      set({ restoring: true });
      try {
        const messages = await fetchHistory(conversationId);
        if (started !== generation || state.status === 'submitted' || state.status === 'streaming') {
          return state.messages;
        }
        if (!messages) {
          // Expired, or another owner's: the next message starts a new conversation.
          saved.conversationId = undefined;
          save();
        }
        set({ restoring: false, status: 'idle', error: null, messages: messages ?? [] });
        if (messages && saved.answering) await resume(conversationId, saved.answering, messages);
        else inFlight();
        return state.messages;
      } catch (caught) {
        fail(toChatError(caught), async () => void (await client.history()));
        return state.messages;
      }
    },

    newConversation() {
      active?.abort();
      active = null;
      retryAction = null;
      generation += 1;
      saved.conversationId = undefined;
      inFlight();
      save();
      set({ status: 'idle', messages: [], error: null, restoring: false });
    },

    identify(token) {
      const next = token || null;
      if (next === userToken) return;
      userToken = next;
      tokenProblemReported = false;
      state = { ...state, notice: null };
      // A conversation belongs to one owner: a visitor who signs in (or out) starts a new one.
      if (state.messages.length > 0 || saved.conversationId) client.newConversation();
      else set({});
    },

    on: (event, handler) => events.on(event, handler),

    destroy() {
      active?.abort();
      active = null;
      events.clear();
    },
  };
  return client;
}
