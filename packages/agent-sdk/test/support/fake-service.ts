import { createUIMessageStream, createUIMessageStreamResponse, type UIMessageChunk } from 'ai';

/** A request the client made, as the fake service saw it. */
export interface SeenRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: each test asserts the fields it reads
  body: any;
  signal: AbortSignal | undefined;
}

export type Answer = Response | Error | Promise<Response | Error>;

/**
 * A `fetch` that answers with what `handler` returns (an `Error` becomes a rejected fetch, as a
 * network failure is), recording every request.
 */
export function fakeFetch(handler: (request: SeenRequest, index: number) => Answer) {
  const requests: SeenRequest[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const request: SeenRequest = {
      url: new URL(String(input)),
      method: init.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      signal: init.signal ?? undefined,
    };
    requests.push(request);
    if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const answer = await handler(request, requests.length - 1);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { fetch: fetch as typeof globalThis.fetch, requests };
}

/** The real bytes of the AI SDK UI message stream for these chunks (its own SSE encoder). */
export function sse(chunks: UIMessageChunk[], headers: Record<string, string> = {}): Response {
  const stream = createUIMessageStream({
    execute: ({ writer }) => {
      for (const chunk of chunks) writer.write(chunk);
    },
  });
  return createUIMessageStreamResponse({ stream, headers });
}

/** The stream's bytes, then a connection reset: no `[DONE]` ever comes. */
export async function cutOff(chunks: UIMessageChunk[]): Promise<Response> {
  const text = await sse(chunks).text();
  const bytes = new TextEncoder().encode(text.replace('data: [DONE]\n\n', ''));
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    // Erroring at once would drop the queued bytes: send them, then fail the next read.
    pull(controller) {
      if (sent) controller.error(new TypeError('network error'));
      else controller.enqueue(bytes);
      sent = true;
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}

/** A text answer in the chunks `streamText` sends, one chunk per word. */
export function textAnswer(text: string, messageId = 'answer-1'): UIMessageChunk[] {
  const words = text.split(/(?<= )/);
  return [
    { type: 'start', messageId },
    { type: 'start-step' },
    { type: 'text-start', id: 't1' },
    ...words.map((delta) => ({ type: 'text-delta' as const, id: 't1', delta })),
    { type: 'text-end', id: 't1' },
    { type: 'finish-step' },
    { type: 'finish', finishReason: 'stop' },
  ];
}

export function errorResponse(
  status: number,
  error: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return new Response(JSON.stringify({ error: { status, requestId: 'req_test', ...error } }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** In-memory `localStorage` stand-in. */
export function memoryStorage() {
  const values = new Map<string, string>();
  return {
    values,
    getItem: (key: string) => values.get(key) ?? null,
    setItem: (key: string, value: string) => void values.set(key, value),
    removeItem: (key: string) => void values.delete(key),
  };
}

/** An answer that sends these chunks and then hangs until the request is aborted. */
export async function hanging(chunks: UIMessageChunk[], signal: AbortSignal | undefined): Promise<Response> {
  const text = (await sse(chunks).text()).replace('data: [DONE]\n\n', '');
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}

/**
 * A stateful fake of the chat service's resumable answers, speaking the contract the real one
 * keeps: `POST /api/v1/chat` starts one model call per message id (a repeat attaches to the
 * running answer, or gets 409 `message_already_answered` once it is done); `GET …/stream` answers
 * 204 when nothing streams, or 200 replaying the running answer from its `start` and going on live;
 * the history holds the user message at once and the partial answer as it grows. The test drives
 * the model: `write(chunk)` and `finish()`. A request's abort (a page reload) cuts only that
 * reader; the answer goes on.
 */
export function resumableService() {
  const history: { id: string; role: 'user' | 'assistant'; parts: unknown[] }[] = [];
  const answered = new Set<string>();
  let running: {
    messageId: string;
    chunks: UIMessageChunk[];
    readers: Set<() => void>;
    done: boolean;
  } | null = null;
  let modelCalls = 0;
  let text = '';

  const encoder = new TextEncoder();
  const event = (data: string) => encoder.encode(`data: ${data}\n\n`);

  /** A reader of the running answer: every chunk from its start, then live ones, then `[DONE]`. */
  function reader(signal: AbortSignal | undefined): Response {
    const answer = running as NonNullable<typeof running>;
    let sent = 0;
    let notify: () => void = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        notify = () => {
          while (sent < answer.chunks.length)
            controller.enqueue(event(JSON.stringify(answer.chunks[sent++])));
          if (answer.done) {
            controller.enqueue(event('[DONE]'));
            controller.close();
            answer.readers.delete(notify);
          }
        };
        answer.readers.add(notify);
        notify();
        signal?.addEventListener('abort', () => {
          answer.readers.delete(notify);
          controller.error(new DOMException('aborted', 'AbortError'));
        });
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  }

  const service = fakeFetch((request) => {
    const { pathname } = request.url;
    if (request.method === 'POST' && pathname === '/api/v1/chat') {
      const message = request.body.messages.at(-1);
      if (answered.has(message.id)) {
        return errorResponse(409, { code: 'message_already_answered', message: 'Already answered' });
      }
      if (running?.messageId !== message.id) {
        modelCalls += 1;
        history.push({ id: message.id, role: 'user', parts: message.parts });
        running = { messageId: message.id, chunks: [], readers: new Set(), done: false };
        text = '';
      }
      return reader(request.signal);
    }
    if (pathname.endsWith('/stream')) {
      return running && !running.done ? reader(request.signal) : new Response(null, { status: 204 });
    }
    if (pathname.endsWith('/messages')) return json({ conversationId: 'x', title: 't', messages: history });
    return errorResponse(404, { code: 'not_found', message: pathname });
  });

  return {
    ...service,
    history,
    modelCalls: () => modelCalls,
    /** The model sends a chunk: every reader gets it, and the history's partial answer grows. */
    write(chunk: UIMessageChunk) {
      const answer = running as NonNullable<typeof running>;
      answer.chunks.push(chunk);
      if (chunk.type === 'text-delta') {
        text += chunk.delta;
        const partial = { id: 'answer-1', role: 'assistant' as const, parts: [{ type: 'text', text }] };
        if (history.at(-1)?.id === partial.id) history[history.length - 1] = partial;
        else history.push(partial);
      }
      for (const notify of [...answer.readers]) notify();
    },
    /** The answer ends (`[DONE]` to every reader); a repeat of its message id now gets 409. */
    finish() {
      const answer = running as NonNullable<typeof running>;
      answer.done = true;
      answered.add(answer.messageId);
      for (const notify of [...answer.readers]) notify();
    },
  };
}
