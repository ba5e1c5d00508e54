import type { UIMessageChunk } from 'ai';
import { describe, expect, it, vi } from 'vitest';
import { type ChatClientOptions, type ChatState, createChatClient } from '../src/client/client.ts';
import { type ChatError, friendlyMessage } from '../src/client/errors.ts';
import { type ChatMessage, messageText, type ToolCallPart } from '../src/client/messages.ts';
import {
  type Answer,
  cutOff,
  errorResponse,
  fakeFetch,
  hanging,
  json,
  memoryStorage,
  resumableService,
  type SeenRequest,
  sse,
  textAnswer,
} from './support/fake-service.ts';

const publicKey = `mcpstack_pk_${'a'.repeat(32)}`;

function setup(
  handler: (request: SeenRequest, index: number) => Answer,
  options: Partial<ChatClientOptions> = {},
) {
  const service = fakeFetch(handler);
  const storage = options.storage ?? memoryStorage();
  const client = createChatClient({
    publicKey,
    apiBase: 'https://chat.example/',
    fetch: service.fetch,
    storage,
    retryDelaysMs: [5, 5],
    ...options,
  });
  const states: ChatState[] = [];
  const errors: ChatError[] = [];
  const messages: ChatMessage[] = [];
  client.on('change', (state) => states.push(state));
  client.on('error', (error) => errors.push(error));
  client.on('message', (message) => messages.push(message));
  return { client, requests: service.requests, storage, states, errors, messages };
}

const isPost = (request: SeenRequest) => request.method === 'POST';

const toolAnswer: UIMessageChunk[] = [
  { type: 'start', messageId: 'answer-tool' },
  { type: 'start-step' },
  {
    type: 'tool-input-start',
    toolCallId: 'call-1',
    toolName: 'get_order',
    dynamic: true,
    title: 'Get order',
  },
  { type: 'tool-input-delta', toolCallId: 'call-1', inputTextDelta: '{"orderId":"A-1001"}' },
  {
    type: 'tool-input-available',
    toolCallId: 'call-1',
    toolName: 'get_order',
    input: { orderId: 'A-1001' },
    dynamic: true,
    title: 'Get order',
  },
  { type: 'tool-output-available', toolCallId: 'call-1', output: 'Order A-1001: shipped', dynamic: true },
  { type: 'finish-step' },
  { type: 'start-step' },
  { type: 'text-start', id: 't2' },
  { type: 'text-delta', id: 't2', delta: 'It has shipped.' },
  { type: 'text-end', id: 't2' },
  { type: 'finish-step' },
  { type: 'finish', finishReason: 'stop' },
];

describe('sending and streaming', () => {
  it('sends only the new message with the visitor and conversation ids, and streams the answer into state', async () => {
    const { client, requests, states, messages } = setup(() =>
      sse(textAnswer('Hello there, how are you today?')),
    );
    await client.send('Hi!');
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.url.href).toBe('https://chat.example/api/v1/chat');
    expect(request?.headers.authorization).toBe(`Bearer ${publicKey}`);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body).toEqual({
      id: client.state.conversationId,
      messages: [{ id: expect.any(String), role: 'user', parts: [{ type: 'text', text: 'Hi!' }] }],
      trigger: 'submit-message',
      visitorId: client.state.visitorId,
    });
    expect(client.state.visitorId).toMatch(/^[A-Za-z0-9_-]{8,100}$/);
    expect(client.state.conversationId).toMatch(/^[A-Za-z0-9_-]{8,100}$/);
    // Token by token: the answer's text grew through several states before it ended.
    const lengths = states.map(
      (state) => messageText(state.messages[1] ?? { id: '', role: 'assistant', parts: [] }).length,
    );
    expect(new Set(lengths.filter((length) => length > 0)).size).toBeGreaterThan(3);
    expect(states.map((state) => state.status)).toEqual(expect.arrayContaining(['submitted', 'streaming']));
    expect(client.state.status).toBe('idle');
    expect(client.state.messages.map((message) => [message.role, messageText(message)])).toEqual([
      ['user', 'Hi!'],
      ['assistant', 'Hello there, how are you today?'],
    ]);
    expect(client.state.messages[1]?.id).toBe('answer-1');
    expect(messages.map((message) => message.role)).toEqual(['user', 'assistant']);
  });

  it('shows a tool call by its display name while it runs and when it is done', async () => {
    const { client } = setup(() => sse(toolAnswer));
    const calls: ToolCallPart[] = [];
    client.on('tool-call', (part) => calls.push(part));
    await client.send('What is the status of order A-1001?');
    expect(calls.map((call) => [call.title, call.state])).toEqual([
      ['Get order', 'input-available'],
      ['Get order', 'output-available'],
    ]);
    const answer = client.state.messages[1];
    expect(answer?.parts).toEqual([
      {
        type: 'dynamic-tool',
        toolCallId: 'call-1',
        toolName: 'get_order',
        title: 'Get order',
        state: 'output-available',
        input: { orderId: 'A-1001' },
        output: 'Order A-1001: shipped',
      },
      { type: 'text', text: 'It has shipped.', state: 'done' },
    ]);
  });

  it('ends the answer with the service text when an error chunk arrives', async () => {
    const { client, errors } = setup(() =>
      sse([
        { type: 'start' },
        {
          type: 'error',
          errorText: 'This assistant has reached its monthly limit. It resets on 2030-01-01.',
        },
      ]),
    );
    await client.send('hello');
    expect(client.state.status).toBe('error');
    expect(errors[0]?.code).toBe('stream_error');
    expect(friendlyMessage(errors[0] as ChatError)).toBe(
      'This assistant has reached its monthly limit. It resets on 2030-01-01.',
    );
  });

  it('stops an answer: the request is aborted, the service told to stop it, and what arrived stays', async () => {
    let signal: AbortSignal | undefined;
    const { client, requests } = setup((request) => {
      if (request.method === 'DELETE') return new Response(null, { status: 204 });
      signal = request.signal;
      return hanging(textAnswer('Partial answer that never ends').slice(0, 5), request.signal);
    });
    const sending = client.send('Tell me everything');
    await expect.poll(() => client.state.status, { timeout: 10_000 }).toBe('streaming');
    client.stop();
    await sending;
    expect(signal?.aborted).toBe(true);
    const conversationId = client.state.conversationId ?? '';
    await expect
      .poll(() =>
        requests.some(
          (request) =>
            request.method === 'DELETE' && request.url.pathname === `/api/v1/chat/${conversationId}/stream`,
        ),
      )
      .toBe(true);
    expect(client.state.status).toBe('idle');
    expect(client.state.error).toBeNull();
    expect(messageText(client.state.messages[1] as ChatMessage)).toBe('Partial answer ');
  });

  it('refuses a message over the agent limit before sending it', async () => {
    const { client, requests } = setup((request) =>
      request.url.pathname.endsWith('/config')
        ? json({
            agentId: 'agent_1',
            name: 'Shop',
            welcomeMessage: null,
            starterPrompts: [],
            theme: {},
            limits: { maxMessageChars: 10 },
          })
        : sse(textAnswer('ok')),
    );
    await client.config();
    await client.send('x'.repeat(11));
    expect(requests.filter(isPost)).toHaveLength(0);
    expect(client.state.error?.code).toBe('message_too_long');
    expect(friendlyMessage(client.state.error as ChatError)).toContain('the limit is 10 characters');
  });
});

describe('refusals, in words a visitor understands', () => {
  it.each([
    ['agent', 'This assistant has reached its monthly limit. It will be back on'],
    ['user', 'You have reached your monthly limit for this assistant. It resets on'],
    ['anonymous', 'This assistant has reached its monthly limit for guests.'],
    ['credits', 'it has run out of credits'],
  ])('turns a 402 for the %s scope into budget-exceeded naming whose limit it is', async (scope, text) => {
    const { client } = setup(() =>
      errorResponse(402, {
        code: 'budget_exceeded',
        message: 'x',
        scope,
        resetsAt: '2030-02-01T00:00:00.000Z',
      }),
    );
    const budgets: ChatError[] = [];
    client.on('budget-exceeded', (error) => budgets.push(error));
    await client.send('hello');
    expect(budgets).toHaveLength(1);
    expect(budgets[0]).toMatchObject({ code: 'budget_exceeded', status: 402, scope, retryable: false });
    expect(friendlyMessage(budgets[0] as ChatError)).toContain(text);
    if (scope !== 'credits') expect(friendlyMessage(budgets[0] as ChatError)).toContain('February 1');
  });

  it('says when to try again after a 429 (Retry-After)', async () => {
    const { client } = setup(() =>
      errorResponse(429, { code: 'rate_limited', message: 'slow down' }, { 'retry-after': '42' }),
    );
    await client.send('hello');
    expect(client.state.error).toMatchObject({
      code: 'rate_limited',
      retryAfterSeconds: 42,
      retryable: true,
    });
    expect(friendlyMessage(client.state.error as ChatError)).toBe(
      'You are sending messages too quickly. Try again in 42 seconds.',
    );
  });

  it('names a refused origin or key as a setup problem, not the visitor’s', async () => {
    for (const code of ['origin_not_allowed', 'invalid_public_key']) {
      const { client } = setup(() =>
        errorResponse(code === 'origin_not_allowed' ? 403 : 401, { code, message: 'no' }),
      );
      await expect(client.config()).rejects.toMatchObject({ code });
      await client.send('hello');
      expect(client.state.error?.retryable).toBe(false);
      expect(friendlyMessage(client.state.error as ChatError)).toMatch(
        /not enabled on this website|not set up correctly/,
      );
    }
  });

  it('reports a refused user token and goes on as a guest', async () => {
    const { client, requests, errors } = setup(() =>
      sse(textAnswer('Hello guest'), { 'x-mcpstack-user-token-problem': 'expired_user_token' }),
    );
    client.identify('header.payload.signature');
    await client.send('hello');
    expect(requests[0]?.body.userToken).toBe('header.payload.signature');
    expect(errors.map((error) => error.code)).toEqual(['expired_user_token']);
    expect(client.state.notice?.code).toBe('expired_user_token');
    expect(friendlyMessage(client.state.notice as ChatError)).toContain('chatting as a guest');
    expect(client.state.status).toBe('idle');
  });
});

describe('network loss', () => {
  it('retries with backoff when nothing arrived, asking the service first, and sends the message once', async () => {
    const { client, requests, states } = setup((request, index) => {
      if (index === 0) return new TypeError('Failed to fetch');
      if (request.method === 'GET')
        return errorResponse(404, { code: 'conversation_not_found', message: 'none' });
      return sse(textAnswer('Back online'));
    });
    await client.send('hello');
    expect(requests.map((request) => request.method)).toEqual(['POST', 'GET', 'POST']);
    expect(requests[1]?.url.searchParams.get('visitorId')).toBe(client.state.visitorId);
    expect(requests[2]?.body.trigger).toBe('submit-message');
    expect(requests[2]?.body.messages[0].id).toBe(requests[0]?.body.messages[0].id);
    expect(
      states.some((state) => state.status === 'submitted' && state.error?.code === 'network_error'),
    ).toBe(true);
    expect(client.state.status).toBe('idle');
    expect(messageText(client.state.messages[1] as ChatMessage)).toBe('Back online');
  });

  it('regenerates instead of sending again when the service already has the message', async () => {
    const { client, requests } = setup((request, index) => {
      if (index === 0) return new TypeError('Failed to fetch');
      if (request.method === 'GET') {
        const sent = requests[0]?.body.messages[0];
        return json({ conversationId: 'x', title: 'hello', messages: [sent] });
      }
      return sse(textAnswer('Answered once'));
    });
    await client.send('hello');
    expect(requests.filter(isPost).map((request) => request.body.trigger)).toEqual([
      'submit-message',
      'regenerate-message',
    ]);
    expect(client.state.messages).toHaveLength(2);
  });

  it('shows the answer the service made while the connection was down, without asking again', async () => {
    const { client, requests } = setup((_request, index) => {
      if (index === 0) return new TypeError('Failed to fetch');
      const sent = requests[0]?.body.messages[0];
      return json({
        conversationId: 'x',
        title: 'hello',
        messages: [
          sent,
          { id: 'a1', role: 'assistant', parts: [{ type: 'step-start' }, { type: 'text', text: 'Done' }] },
        ],
      });
    });
    await client.send('hello');
    expect(requests.filter(isPost)).toHaveLength(1);
    expect(client.state.messages.map(messageText)).toEqual(['hello', 'Done']);
    expect(client.state.status).toBe('idle');
  });

  it('does not retry by itself once part of the answer arrived; retry() regenerates it', async () => {
    const { client, requests, errors } = setup((_request, index) =>
      index === 0 ? cutOff(textAnswer('This answer is cut').slice(0, 5)) : sse(textAnswer('Whole answer')),
    );
    await client.send('hello');
    expect(client.state.status).toBe('error');
    expect(errors[0]?.code).toBe('stream_interrupted');
    expect(friendlyMessage(errors[0] as ChatError)).toBe(
      'The connection was lost during the answer. Try again.',
    );
    expect(requests).toHaveLength(1);
    await client.retry();
    expect(requests.map((request) => [request.method, request.body?.trigger])).toEqual([
      ['POST', 'submit-message'],
      ['POST', 'regenerate-message'],
    ]);
    expect(client.state.messages.map(messageText)).toEqual(['hello', 'Whole answer']);
  });

  it('gives up after the last backoff with a network error; retry() tries again', async () => {
    let online = false;
    const { client, requests } = setup((request) => {
      if (!online) return new TypeError('Failed to fetch');
      return request.method === 'GET'
        ? errorResponse(404, { code: 'conversation_not_found', message: 'none' })
        : sse(textAnswer('Finally'));
    });
    await client.send('hello');
    expect(client.state.error?.code).toBe('network_error');
    expect(client.state.status).toBe('error');
    // One try and two retries (each asks for the history first, which fails too).
    expect(requests.filter(isPost)).toHaveLength(1);
    expect(friendlyMessage(client.state.error as ChatError)).toContain('Check your connection');
    online = true;
    await client.retry();
    expect(client.state.status).toBe('idle');
    expect(client.state.messages.map(messageText)).toEqual(['hello', 'Finally']);
  });
});

describe('persistence', () => {
  it('keeps the visitor and conversation per public key, and restores the conversation after a reload', async () => {
    const storage = memoryStorage();
    const first = setup(() => sse(textAnswer('Stored answer')), { storage });
    await first.client.send('Remember me');
    const { visitorId, conversationId } = first.client.state;
    expect(JSON.parse(storage.values.get(`mcpstack:${publicKey}`) ?? '{}')).toEqual({
      visitorId,
      conversationId,
    });

    const history = {
      conversationId,
      title: 'Remember me',
      messages: [
        { id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Remember me' }], metadata: {} },
        {
          id: 'a1',
          role: 'assistant',
          parts: [
            { type: 'step-start' },
            {
              type: 'dynamic-tool',
              toolName: 'get_order',
              toolCallId: 'c1',
              title: 'Get order',
              state: 'output-available',
              input: {},
              output: 'x',
            },
            { type: 'text', text: 'Stored answer', state: 'done' },
            { type: '<img onerror>', text: 'ignored' },
          ],
        },
        { id: 'bad', role: 'system', parts: [] },
      ],
    };
    const reloaded = setup(() => json(history), { storage });
    expect(reloaded.client.state.conversationId).toBe(conversationId);
    await reloaded.client.history();
    const [request] = reloaded.requests;
    expect(request?.url.pathname).toBe(`/api/v1/chat/conversations/${conversationId}/messages`);
    expect(request?.url.searchParams.get('visitorId')).toBe(visitorId);
    expect(reloaded.client.state.messages.map((message) => message.parts.map((part) => part.type))).toEqual([
      ['text'],
      ['dynamic-tool', 'text'],
    ]);

    const otherKey = createChatClient({
      publicKey: `mcpstack_pk_${'b'.repeat(32)}`,
      apiBase: 'https://x',
      storage,
    });
    expect(otherKey.state.visitorId).not.toBe(visitorId);
    expect(otherKey.state.conversationId).toBeNull();
  });

  it('starts afresh when the saved conversation is gone, and sends the user token in a header, not the URL', async () => {
    const storage = memoryStorage();
    storage.setItem(
      `mcpstack:${publicKey}`,
      JSON.stringify({ visitorId: 'visitor_12345678', conversationId: 'conv_12345678' }),
    );
    const { client, requests } = setup(
      () => errorResponse(404, { code: 'conversation_not_found', message: 'gone' }),
      {
        storage,
        userToken: 'signed.user.token',
      },
    );
    await client.history();
    expect(requests[0]?.headers['x-mcpstack-user-token']).toBe('signed.user.token');
    expect(requests[0]?.url.href).not.toContain('signed.user.token');
    expect(client.state.conversationId).toBeNull();
    expect(client.state.messages).toEqual([]);
    expect(JSON.parse(storage.values.get(`mcpstack:${publicKey}`) ?? '{}')).toEqual({
      visitorId: 'visitor_12345678',
    });
  });

  it('ignores saved ids that break the service rules (storage is the page’s to tamper with)', () => {
    const storage = memoryStorage();
    storage.setItem(`mcpstack:${publicKey}`, JSON.stringify({ visitorId: '../../etc', conversationId: 42 }));
    const { client } = setup(() => json({}), { storage });
    expect(client.state.visitorId).toMatch(/^visitor_[A-Za-z0-9]{22}$/);
    expect(client.state.conversationId).toBeNull();
  });

  it('starts a new conversation when the service says the saved one is another owner’s', async () => {
    const { client, requests } = setup((_request, index) =>
      index === 0
        ? errorResponse(404, { code: 'conversation_not_found', message: 'no' })
        : sse(textAnswer('Fresh')),
    );
    await client.send('hello');
    expect(requests).toHaveLength(2);
    expect(requests[1]?.body.id).not.toBe(requests[0]?.body.id);
    expect(client.state.conversationId).toBe(requests[1]?.body.id);
    expect(client.state.status).toBe('idle');
  });

  it('starts a new conversation on identify and on newConversation', async () => {
    const { client, requests } = setup(() => sse(textAnswer('ok')));
    await client.send('one');
    const first = client.state.conversationId;
    client.identify('a.b.c');
    expect(client.state.messages).toEqual([]);
    expect(client.state.conversationId).toBeNull();
    await client.send('two');
    expect(requests[1]?.body.id).not.toBe(first);
    client.newConversation();
    expect(client.state).toMatchObject({ messages: [], conversationId: null, status: 'idle' });
  });
});

describe('resumable answers', () => {
  const key = `mcpstack:${publicKey}`;
  const saved = (storage: ReturnType<typeof memoryStorage>) =>
    JSON.parse(storage.getItem(key) ?? '{}') as Record<string, string | undefined>;
  const clientOn = (service: { fetch: typeof fetch }, storage: ReturnType<typeof memoryStorage>) =>
    createChatClient({
      publicKey,
      apiBase: 'https://chat.example',
      fetch: service.fetch,
      storage,
      retryDelaysMs: [5, 5],
    });

  it('marks the answer in flight by the message id it minted before sending, until its finish', async () => {
    const service = resumableService();
    const storage = memoryStorage();
    const client = clientOn(service, storage);
    const sending = client.send('hello');
    await vi.waitFor(() => expect(service.requests.filter(isPost)).toHaveLength(1), { timeout: 10_000 });
    const id = service.requests[0]?.body.messages.at(-1).id;
    expect(id).toBe(client.state.messages[0]?.id);
    expect(saved(storage).answering).toBe(id);
    const chunks = textAnswer('Hi there');
    for (const chunk of chunks.slice(0, -1)) service.write(chunk);
    await vi.waitFor(() => expect(messageText(client.state.messages[1] as ChatMessage)).toBe('Hi there'), {
      timeout: 10_000,
    });
    expect(saved(storage).answering).toBe(id);
    service.write(chunks.at(-1) as UIMessageChunk);
    service.finish();
    await sending;
    expect(saved(storage).answering).toBeUndefined();
    expect(client.state.status).toBe('idle');
  });

  it('re-attaches after a reload mid-answer: the history, then the answer replayed and live to its end, with one model call', async () => {
    const service = resumableService();
    const storage = memoryStorage();
    const first = clientOn(service, storage);
    const sending = first.send('hello');
    await vi.waitFor(() => expect(service.requests.filter(isPost)).toHaveLength(1), { timeout: 10_000 });
    const chunks = textAnswer('One answer, streamed once');
    for (const chunk of chunks.slice(0, 5)) service.write(chunk);
    await vi.waitFor(() => expect(messageText(first.state.messages[1] as ChatMessage)).toBe('One answer, '), {
      timeout: 10_000,
    });
    // The page goes away (its request is cut) while the answer goes on at the service.
    first.destroy();
    await sending;
    service.write(chunks[5] as UIMessageChunk);

    const second = clientOn(service, storage);
    const seen: string[] = [];
    second.on('message', (message) => seen.push(`${message.role}:${messageText(message)}`));
    const restoring = second.history();
    await vi.waitFor(() => expect(second.state.status).toBe('streaming'), { timeout: 10_000 });
    // The partial answer in the history gave way to the replay (one assistant message, not two).
    expect(second.state.messages.map(messageText)).toEqual(['hello', 'One answer, streamed ']);
    for (const chunk of chunks.slice(6)) service.write(chunk);
    service.finish();
    await restoring;
    expect(second.state.messages.map((message) => [message.role, messageText(message)])).toEqual([
      ['user', 'hello'],
      ['assistant', 'One answer, streamed once'],
    ]);
    expect(second.state.messages[1]?.id).toBe('answer-1');
    expect(second.state.status).toBe('idle');
    expect(seen).toEqual(['assistant:One answer, streamed once']);
    expect(service.modelCalls()).toBe(1);
    expect(service.requests.filter(isPost)).toHaveLength(1);
    const reads = service.requests.slice(1).map((request) => request.url.pathname);
    expect(reads).toEqual([
      `/api/v1/chat/conversations/${second.state.conversationId}/messages`,
      `/api/v1/chat/${second.state.conversationId}/stream`,
    ]);
    // The same auth as the history read: the key, and the visitor in the query.
    expect(service.requests[2]?.headers.authorization).toBe(`Bearer ${publicKey}`);
    expect(service.requests[2]?.url.searchParams.get('visitorId')).toBe(second.state.visitorId);
    expect(saved(storage).answering).toBeUndefined();
  });

  it('shows just the history when the service says no answer streams any more (204)', async () => {
    const service = resumableService();
    const storage = memoryStorage();
    storage.setItem(
      key,
      JSON.stringify({
        visitorId: 'visitor_abcdefghijklmnop',
        conversationId: 'conv_abcdefghijklmnop',
        answering: 'msg_abcdefghijklmnop',
      }),
    );
    service.history.push(
      { id: 'msg_abcdefghijklmnop', role: 'user', parts: [{ type: 'text', text: 'hello' }] },
      { id: 'answer-1', role: 'assistant', parts: [{ type: 'text', text: 'The whole answer' }] },
    );
    const client = clientOn(service, storage);
    await client.history();
    expect(client.state.messages.map(messageText)).toEqual(['hello', 'The whole answer']);
    expect(client.state.status).toBe('idle');
    expect(client.state.error).toBeNull();
    expect(service.requests.map((request) => request.url.pathname.split('/').at(-1))).toEqual([
      'messages',
      'stream',
    ]);
    expect(saved(storage).answering).toBeUndefined();
  });

  it('does not ask for the stream when no answer was in flight', async () => {
    const service = resumableService();
    const storage = memoryStorage();
    storage.setItem(
      key,
      JSON.stringify({ visitorId: 'visitor_abcdefghijklmnop', conversationId: 'conv_abcdefghijklmnop' }),
    );
    const client = clientOn(service, storage);
    await client.history();
    expect(service.requests.map((request) => request.url.pathname.split('/').at(-1))).toEqual(['messages']);
  });

  it('after a lost response, attaches to the answer still running rather than asking for a second one', async () => {
    const service = resumableService();
    let lost = false;
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const response = await service.fetch(input, init);
      if (init?.method === 'POST' && !lost) {
        lost = true;
        throw new TypeError('Failed to fetch');
      }
      return response;
    }) as typeof globalThis.fetch;
    const client = clientOn({ fetch }, memoryStorage());
    const sending = client.send('hello');
    await vi.waitFor(
      () =>
        expect(service.requests.map((request) => request.url.pathname.split('/').at(-1))).toEqual([
          'chat',
          'messages',
          'stream',
        ]),
      { timeout: 10_000 },
    );
    for (const chunk of textAnswer('Answered once')) service.write(chunk);
    service.finish();
    await sending;
    expect(client.state.messages.map(messageText)).toEqual(['hello', 'Answered once']);
    expect(client.state.status).toBe('idle');
    expect(service.modelCalls()).toBe(1);
    expect(service.requests.filter(isPost)).toHaveLength(1);
  });

  it('shows the stored answer when the service says the message was answered already (409)', async () => {
    const storage = memoryStorage();
    const { client, requests, errors } = setup(
      (request) => {
        if (isPost(request)) {
          return errorResponse(409, { code: 'message_already_answered', message: 'Already answered' });
        }
        const sent = requests[0]?.body.messages[0];
        return json({
          conversationId: 'x',
          title: 'hello',
          messages: [sent, { id: 'a1', role: 'assistant', parts: [{ type: 'text', text: 'Stored answer' }] }],
        });
      },
      { storage },
    );
    await client.send('hello');
    expect(client.state.messages.map(messageText)).toEqual(['hello', 'Stored answer']);
    expect(client.state.status).toBe('idle');
    expect(errors).toEqual([]);
    expect(requests.filter(isPost)).toHaveLength(1);
    expect(saved(storage).answering).toBeUndefined();
  });

  it('forgets the answer in flight when the visitor stops it', async () => {
    const storage = memoryStorage();
    const { client } = setup((request) => hanging(textAnswer('Never ending').slice(0, 4), request.signal), {
      storage,
    });
    const sending = client.send('hello');
    await vi.waitFor(() => expect(client.state.status).toBe('streaming'), { timeout: 10_000 });
    expect(saved(storage).answering).toBeDefined();
    client.stop();
    await sending;
    expect(saved(storage).answering).toBeUndefined();
  });
});
