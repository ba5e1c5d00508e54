/**
 * The HTTP side: routes, API key, body reading, streaming with delays, client disconnects. Only this file
 * knows `node:http`; what to answer comes from reply.ts, how it looks on the wire from completion.ts.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ChatCompletionRequest, parseChatCompletionRequest } from './chat-request.ts';
import {
  completionBody,
  completionChunks,
  createResponseMeta,
  type FinishReason,
  planCompletion,
  type Usage,
  usageChunk,
  usageOf,
} from './completion.ts';
import {
  bodyTooLarge,
  incorrectApiKey,
  invalidJson,
  invalidRequest,
  missingApiKey,
  type OpenAIError,
  routeNotFound,
  serverError,
} from './openai-errors.ts';
import { decideReply, type Reply, readMagicPhrases } from './reply.ts';
import { countPromptTokens } from './tokens.ts';

export interface LocalModelOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Delay before the first chunk, ms (default 0). For latency and abort tests, and benchmarks. */
  firstTokenDelayMs?: number;
  /** Delay between chunks, ms (default 0). */
  chunkDelayMs?: number;
  /**
   * When false, never sends usage (some OpenAI-compatible servers don't), even if
   * `stream_options.include_usage` is set. Default true.
   */
  reportUsage?: boolean;
  /** When set, requests without `Authorization: Bearer <apiKey>` get a 401 in OpenAI's error format. */
  apiKey?: string;
}

/** One `POST /v1/chat/completions` whose body parsed, as the server saw and answered it. */
export interface RecordedRequest {
  body: ChatCompletionRequest;
  /** 200, or 500 for `[error]`. */
  status: number;
  /** The answer after `max_tokens` cut it; undefined for an error answer. */
  reply: Reply | undefined;
  /** The finish reason sent; undefined when the response did not get that far. */
  finishReason: FinishReason | undefined;
  /** The usage the response carried; undefined when it carried none. */
  usage: Usage | undefined;
  /** The client went away before the response was complete. */
  aborted: boolean;
}

export interface LocalModel {
  /** The base URL, ending in `/v1` (what `OPENAI_BASE_URL` and `createOpenAI({ baseURL })` take). */
  url: string;
  /** Every chat completion request, in arrival order. */
  requests: RecordedRequest[];
  /** Stops listening and cuts open connections (a stream in progress is recorded as aborted). */
  close(): Promise<void>;
}

/** The models `GET /v1/models` lists. Chat completions accept any model name and echo it back. */
export const listedModels = ['gpt-4.1-mini', 'gpt-4.1', 'gpt-4.1-nano', 'gpt-4o-mini', 'gpt-4o'];
/** A fixed creation time, so the model list is the same on every run. */
const MODELS_CREATED = 1_744_000_000;
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** The chunk delay `[slow]` asks for. */
const SLOW_CHUNK_DELAY_MS = 50;
/** How many pieces `[stream-error]` streams before it destroys the socket. */
const STREAM_ERROR_AFTER_PIECES = 3;

interface Settings {
  firstTokenDelayMs: number;
  chunkDelayMs: number;
  reportUsage: boolean;
  apiKey: string | undefined;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': `req_${randomUUID().replaceAll('-', '')}`,
  });
  response.end(text);
}

function sendError(response: ServerResponse, error: OpenAIError): void {
  sendJson(response, error.status, error.body);
}

function modelObject(id: string) {
  return { id, object: 'model', created: MODELS_CREATED, owned_by: 'mcpstack-local' };
}

/**
 * The body as text, or undefined when it exceeds the limit. An oversized body is still read to its end
 * (and dropped): leaving the loop early would destroy the socket before the 413 could be sent.
 */
async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

async function pause(milliseconds: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  if (milliseconds > 0) await sleep(milliseconds, undefined, { signal });
}

/** Writes one SSE event and resolves once it is handed to the socket, so a slow reader slows the stream. */
function writeEvent(response: ServerResponse, data: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    response.write(`data: ${data}\n\n`, (error) => {
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    });
  });
}

async function chatCompletions(
  request: IncomingMessage,
  response: ServerResponse,
  settings: Settings,
  requests: RecordedRequest[],
): Promise<void> {
  const text = await readBody(request);
  if (text === undefined) return sendError(response, bodyTooLarge(MAX_BODY_BYTES));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return sendError(response, invalidJson());
  }
  const parsed = parseChatCompletionRequest(json);
  if (!parsed.ok) {
    const { message, param, code } = parsed.problem;
    return sendError(response, invalidRequest(message, param, code));
  }

  const body = parsed.request;
  const record: RecordedRequest = {
    body,
    status: 200,
    reply: undefined,
    finishReason: undefined,
    usage: undefined,
    aborted: false,
  };
  requests.push(record);
  const magic = readMagicPhrases(body);
  if (magic.error) {
    record.status = 500;
    return sendError(response, serverError());
  }

  const plan = planCompletion(decideReply(body), body.max_completion_tokens ?? body.max_tokens ?? undefined);
  record.reply = plan.reply;
  const usage = usageOf(countPromptTokens(body), plan.completionTokens);
  const meta = createResponseMeta(body.model);
  const chunkDelayMs = magic.slow
    ? Math.max(settings.chunkDelayMs, SLOW_CHUNK_DELAY_MS)
    : settings.chunkDelayMs;

  // A client that goes away stops the generation; `[stream-error]` cutting the socket is not the client's doing.
  const generation = new AbortController();
  let cutByServer = false;
  const onGone = () => {
    generation.abort();
    if (!cutByServer) record.aborted = true;
  };
  response.on('close', () => {
    if (!response.writableFinished) onGone();
  });
  if (request.socket.destroyed) onGone();
  const { signal } = generation;

  try {
    if (body.stream !== true) {
      // No chunks to space out: the whole generation time passes before the answer.
      await pause(settings.firstTokenDelayMs + chunkDelayMs * plan.pieces.length, signal);
      if (magic.streamError) {
        cutByServer = true;
        response.destroy();
        return;
      }
      const reported = settings.reportUsage ? usage : undefined;
      record.usage = reported;
      record.finishReason = plan.finishReason;
      return sendJson(response, 200, completionBody(plan, meta, reported));
    }

    const includeUsage = settings.reportUsage && body.stream_options?.include_usage === true;
    const chunks = completionChunks(plan, meta, includeUsage);
    const finishIndex = chunks.length - 1;
    if (includeUsage) chunks.push(usageChunk(meta, usage));
    const cutAt = magic.streamError ? Math.min(1 + STREAM_ERROR_AFTER_PIECES, finishIndex) : undefined;

    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': `req_${randomUUID().replaceAll('-', '')}`,
    });
    response.flushHeaders();
    for (const [index, chunk] of chunks.entries()) {
      await pause(index === 0 ? settings.firstTokenDelayMs : chunkDelayMs, signal);
      if (index === cutAt) {
        cutByServer = true;
        response.destroy();
        return;
      }
      if (index === finishIndex) record.finishReason = plan.finishReason;
      if (index === finishIndex + 1) record.usage = usage;
      await writeEvent(response, JSON.stringify(chunk), signal);
    }
    await writeEvent(response, '[DONE]', signal);
    response.end();
  } catch (error) {
    // The write that failed because the client hung up may report before the response's `close` does.
    if (signal.aborted || response.destroyed) return;
    throw error;
  }
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  settings: Settings,
  requests: RecordedRequest[],
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://local-model');
  const path = url.pathname.replace(/\/+$/, '');
  const method = request.method ?? 'GET';
  if (settings.apiKey !== undefined) {
    const authorization = request.headers.authorization;
    if (!authorization) return sendError(response, missingApiKey());
    if (authorization !== `Bearer ${settings.apiKey}`) return sendError(response, incorrectApiKey());
  }
  if (method === 'GET' && path === '/v1/models') {
    return sendJson(response, 200, { object: 'list', data: listedModels.map(modelObject) });
  }
  const modelPath = /^\/v1\/models\/([^/]+)$/.exec(path);
  if (method === 'GET' && modelPath)
    return sendJson(response, 200, modelObject(decodeModelId(modelPath[1]!)));
  if (method === 'POST' && path === '/v1/chat/completions') {
    return chatCompletions(request, response, settings, requests);
  }
  return sendError(response, routeNotFound(method, url.pathname));
}

function decodeModelId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The host part of a URL that reaches `host`: a wildcard address is reached on loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts the local model: a deterministic server that speaks OpenAI's Chat Completions wire format.
 *
 * @example
 * ```ts
 * const model = await startLocalModel();
 * const openai = createOpenAI({ baseURL: model.url, apiKey: 'x' });
 * const result = streamText({ model: openai.chat('gpt-4.1-mini'), prompt: 'Hello' });
 * console.log(await result.text); // You said: "Hello". I am the local model of MCP Stack Agents: …
 * await model.close();
 * ```
 */
export async function startLocalModel(options: LocalModelOptions = {}): Promise<LocalModel> {
  const host = options.host ?? '127.0.0.1';
  const settings: Settings = {
    firstTokenDelayMs: options.firstTokenDelayMs ?? 0,
    chunkDelayMs: options.chunkDelayMs ?? 0,
    reportUsage: options.reportUsage ?? true,
    apiKey: options.apiKey,
  };
  const requests: RecordedRequest[] = [];
  const server = createServer((request, response) => {
    handle(request, response, settings, requests).catch((error: unknown) => {
      // A client that hung up while sending its body is no fault of ours; anything else is a bug.
      if (!request.socket.destroyed) {
        process.stderr.write(`local-model: ${error instanceof Error ? error.stack : String(error)}\n`);
      }
      if (!response.headersSent && !response.destroyed) sendError(response, serverError());
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${port}/v1`,
    requests,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
