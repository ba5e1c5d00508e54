import {
  APICallError,
  convertToModelMessages,
  createUIMessageStream,
  type InferUIMessageChunk,
  pipeUIMessageStreamToResponse,
  RetryError,
  stepCountIs,
  streamText,
  toUIMessageStream,
} from 'ai';
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { acquireStream } from '../../domain/abuse/rate-limit.ts';
import { costBoundMicros, type MeterContext, release, reserve } from '../../domain/budgets/meter.ts';
import { readBudgetSettings } from '../../domain/budgets/settings.ts';
import {
  appendMessages,
  type ConversationOwner,
  ownerMessages,
  type StoredMessage,
} from '../../domain/chat/conversations.ts';
import { buildTools, byteSize, describeError, meteredModel } from '../../domain/chat/runtime.ts';
import { lowBalanceHeaders } from '../../domain/credits/summary.ts';
import { verifyUserToken } from '../../domain/identity.ts';
import { listEnabledTools } from '../../domain/mcp/registry.ts';
import { ApiError } from '../../errors.ts';
import type { AgentRecord } from '../../storage/records.ts';
import { type JsonSchema, toSchema } from '../openapi.ts';
import { parseInput } from '../validate.ts';
import { chatCors, embedAuth, embedContext, limitChat } from './embed-auth.ts';

const opaqueId = (what: string) =>
  z.string().regex(/^[A-Za-z0-9_-]{8,100}$/, `must be 8 to 100 letters, digits, _ or - (a random ${what})`);

export const visitorIdSchema = opaqueId('id the widget keeps for this visitor');
export const conversationIdSchema = opaqueId('id per conversation');

/**
 * The AI SDK's chat request (`DefaultChatTransport`): `{ id, messages, trigger, messageId }`, plus
 * the visitor. Only the last message is read; the history is the server's own copy.
 */
export const chatRequest = z.looseObject({
  id: conversationIdSchema.describe('The conversation id (the AI SDK chat id).'),
  messages: z
    .array(z.looseObject({ id: z.string().optional(), role: z.string(), parts: z.array(z.unknown()) }))
    .min(1, 'must hold the new user message'),
  trigger: z.enum(['submit-message', 'regenerate-message']).default('submit-message'),
  messageId: z.string().optional(),
  visitorId: visitorIdSchema.describe('The anonymous visitor id the widget keeps in localStorage.'),
  userToken: z
    .string()
    .max(16_384)
    .optional()
    .describe("A JWT the website's backend signed for its logged-in user (sub = external user id)."),
});

/** Header carrying the user token on GET requests (tokens never go in URLs, which get logged). */
export const userTokenHeader = 'x-mcpstack-user-token';
/** Response header saying a presented user token was refused, so the widget can tell the user. */
export const userTokenProblemHeader = 'x-mcpstack-user-token-problem';

/**
 * The conversation owner: the user a valid token names, else the anonymous visitor. A refused
 * token never stops the chat (the visitor continues anonymously) but is reported in a header.
 */
async function resolveOwner(
  deps: Deps,
  response: Response,
  key: { organizationId: string; agentId: string },
  visitorId: string,
  userToken: string | undefined,
): Promise<ConversationOwner> {
  if (!userToken) return { kind: 'visitor', id: visitorId };
  const verified = await verifyUserToken(deps, key.organizationId, key.agentId, userToken);
  if (verified.ok) return verified.user;
  response.setHeader(userTokenProblemHeader, verified.problem);
  return { kind: 'visitor', id: visitorId };
}

type AnswerChunk = InferUIMessageChunk<StoredMessage>;

const textPart = z.object({ type: z.literal('text'), text: z.string() }).loose();
const messageIdPattern = /^[A-Za-z0-9_-]{1,100}$/;

async function loadAgent(deps: Deps, organizationId: string, agentId: string): Promise<AgentRecord> {
  const agent = await deps.stores.agents.get(organizationId, agentId);
  if (!agent) throw new ApiError('agent_not_found', 'The agent of this embed key no longer exists');
  return agent;
}

/** The new user message, checked: text parts only, within the size limit. */
function newUserMessage(deps: Deps, body: z.output<typeof chatRequest>): StoredMessage {
  const last = body.messages.at(-1);
  if (last?.role !== 'user') {
    throw new ApiError('validation_failed', 'body.messages: the last message must be the new user message');
  }
  const parts = parseInput(z.array(textPart).min(1, 'must hold text'), last.parts, 'body');
  const text = parts.map((part) => part.text).join('');
  if (text.trim() === '') throw new ApiError('validation_failed', 'body.messages: the message is empty');
  const max = deps.env.MCPSTACK_CHAT_MAX_MESSAGE_CHARS;
  if (text.length > max) {
    throw new ApiError('message_too_long', `The message is ${text.length} characters; the limit is ${max}.`, {
      maxChars: max,
    });
  }
  return {
    id: last.id && messageIdPattern.test(last.id) ? last.id : crypto.randomUUID(),
    role: 'user',
    parts: parts.map((part) => ({ type: 'text', text: part.text })),
    metadata: { createdAt: deps.clock.now().toISOString() },
  };
}

/** What the visitor may read about a failure: specific where it helps, never internals. */
function visitorErrorText(deps: Deps, failure: unknown): string {
  // After its retries the AI SDK throws a RetryError around the last provider error.
  const error = RetryError.isInstance(failure) ? failure.lastError : failure;
  if (error instanceof ApiError) return error.message;
  if (APICallError.isInstance(error)) {
    return `The assistant's model is unavailable right now (status ${error.statusCode ?? 'unknown'}). Please try again.`;
  }
  if (error instanceof Error && error.name === 'AbortError') return 'The answer was stopped.';
  deps.logger.warn({ reason: describeError(error) }, 'chat stream error');
  return 'Something went wrong while answering. Please try again.';
}

async function streamAnswer(deps: Deps, request: Request, response: Response): Promise<void> {
  const { key } = embedContext(response);
  const agent = await loadAgent(deps, key.organizationId, key.agentId);
  // Limits come before validation: malformed floods are throttled like any other.
  const claimed = (request.body as { visitorId?: unknown } | null)?.visitorId;
  const visitor = visitorIdSchema.safeParse(claimed).success ? (claimed as string) : undefined;
  await limitChat(deps, request, embedContext(response), agent, visitor);
  const body = parseInput(chatRequest, request.body, 'body');
  const owner = await resolveOwner(deps, response, key, body.visitorId, body.userToken);
  const ownerTag = `${owner.kind}:${owner.id}`;
  const lease = await acquireStream(
    deps,
    key.organizationId,
    agent.id,
    ownerTag,
    agent.rateLimits.maxStreamsPerVisitor ?? deps.env.MCPSTACK_MAX_STREAMS_PER_VISITOR,
  );
  response.on('close', () => void lease.release());
  try {
    await answer(deps, response, body, agent, owner);
  } catch (error) {
    await lease.release();
    throw error;
  }
}

async function answer(
  deps: Deps,
  response: Response,
  body: z.output<typeof chatRequest>,
  agent: AgentRecord,
  owner: ConversationOwner,
): Promise<void> {
  const { key } = embedContext(response);
  const model = deps.modelCatalog.get(agent.model);
  if (!model) {
    throw new ApiError(
      'service_unavailable',
      `The agent's model ${agent.model} is not offered by this service`,
    );
  }
  const regenerate = body.trigger === 'regenerate-message';
  const conversation = {
    organizationId: key.organizationId,
    agentId: agent.id,
    conversationId: body.id,
    owner,
  };
  const history = await appendMessages(deps, {
    ...conversation,
    messages: regenerate ? [] : [newUserMessage(deps, body)],
    create: !regenerate,
    history: true,
    dropTrailingAssistant: regenerate,
    reserve: 1,
  });
  if (history.at(-1)?.role !== 'user') {
    throw new ApiError('validation_failed', 'body.trigger: there is no user message to answer');
  }

  const [servers, budget, creditHeaders] = await Promise.all([
    listEnabledTools(deps, key.organizationId, agent.mcpServerIds),
    readBudgetSettings(deps, key.organizationId, agent.id),
    lowBalanceHeaders(deps, key.organizationId),
  ]);
  const { tools } = buildTools(deps, servers);
  const messages = await convertToModelMessages(history, { tools, ignoreIncompleteToolCalls: true });
  const meter: MeterContext = { ...conversation, model, resetDayOfMonthUtc: budget.resetDayOfMonthUtc };

  // Reserve the first call now, so a spent budget is a plain 402 before any stream starts. The bound
  // is a little generous; the model call's own, from the exact request, is checked against it (and
  // reserved afresh in the rare case it is larger).
  const toolDefinitions = Object.entries(tools).map(([name, tool]) => [
    name,
    tool.description,
    tool.inputSchema,
  ]);
  const firstBytes = Math.ceil(byteSize([agent.instructions, messages, toolDefinitions]) * 1.1) + 512;
  const firstReservation = await reserve(
    deps,
    meter,
    costBoundMicros(model, firstBytes, Math.min(agent.maxOutputTokens, model.maxOutputTokens)),
  );

  // One controller ends the turn, the model call and any running tool call: the visitor leaving, or
  // our time limit. The timer is cleared with the response (AbortSignal.timeout would keep every
  // turn's objects alive for the whole limit).
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort(new Error('The turn took longer than MCPSTACK_MODEL_TIMEOUT_MS'));
  }, deps.env.MCPSTACK_MODEL_TIMEOUT_MS);
  response.on('close', () => {
    clearTimeout(timer);
    if (!response.writableFinished) abort.abort(new Error('The visitor disconnected'));
  });

  const result = streamText({
    model: meteredModel(deps, meter, firstReservation),
    instructions: agent.instructions || undefined,
    messages,
    tools,
    stopWhen: stepCountIs(agent.maxSteps),
    maxOutputTokens: agent.maxOutputTokens,
    temperature: agent.temperature ?? undefined,
    maxRetries: 1,
    abortSignal: abort.signal,
    // The visitor gets an error part (see visitorErrorText); the operator gets the log line.
    onError: ({ error }) => {
      deps.logger.warn(
        { organizationId: key.organizationId, agentId: agent.id, reason: describeError(error) },
        'chat turn failed',
      );
    },
  });

  const onError = (error: unknown) => visitorErrorText(deps, error);
  const stream = createUIMessageStream<StoredMessage>({
    originalMessages: history,
    onError,
    execute: ({ writer }) => {
      // Our own time limit ends the turn with an abort part: say why, since the visitor is still here.
      const explainTimeout = new TransformStream<AnswerChunk, AnswerChunk>({
        transform(chunk, controller) {
          if (chunk.type === 'abort' && timedOut) {
            controller.enqueue({
              type: 'error',
              errorText: 'The assistant took too long to answer. Please try again.',
            });
          }
          controller.enqueue(chunk);
        },
      });
      writer.merge(
        toUIMessageStream<typeof tools, StoredMessage>({
          stream: result.stream,
          tools,
          sendReasoning: false,
          onError,
          messageMetadata: ({ part }) =>
            part.type === 'start' ? { createdAt: deps.clock.now().toISOString() } : undefined,
        }).pipeThrough(explainTimeout),
      );
    },
    onEnd: async ({ responseMessage }) => {
      // Unused when the turn ended before its first model call; a no-op once that call settled.
      await release(deps, meter, firstReservation).catch(() => undefined);
      if (responseMessage.parts.length === 0) return;
      try {
        await appendMessages(deps, {
          ...conversation,
          messages: [responseMessage],
          create: false,
          history: false,
        });
      } catch (error) {
        deps.logger.error(
          { err: error, conversationId: body.id, organizationId: key.organizationId },
          'could not store the answer',
        );
      }
    },
  });
  // Lets the website warn before the organization's credits run out.
  for (const [name, value] of Object.entries(creditHeaders)) response.setHeader(name, value);
  pipeUIMessageStreamToResponse({ response, stream });
}

/** The public chat API for browsers: publishable key + Origin on every request. */
export function chatRouter(deps: Deps): Router {
  const router = express.Router();
  const json = express.json({ limit: deps.env.MCPSTACK_CHAT_MAX_BODY_BYTES, strict: true });
  const auth = embedAuth(deps);

  router.use('/api/v1/chat', chatCors(deps));

  router.post('/api/v1/chat', auth, (request, response, next) => {
    if (!request.is('application/json')) {
      return next(
        new ApiError('unsupported_media_type', 'Send the body as JSON with "Content-Type: application/json"'),
      );
    }
    json(request, response, (error?: unknown) => {
      if (error) return next(error);
      streamAnswer(deps, request, response).catch(next);
    });
  });

  router.get('/api/v1/chat/config', auth, async (request, response, next) => {
    try {
      const { key } = embedContext(response);
      const agent = await loadAgent(deps, key.organizationId, key.agentId);
      await limitChat(deps, request, embedContext(response), agent);
      response.json({
        agentId: agent.id,
        name: agent.name,
        welcomeMessage: agent.welcomeMessage,
        starterPrompts: agent.starterPrompts,
        theme: agent.theme,
        limits: { maxMessageChars: deps.env.MCPSTACK_CHAT_MAX_MESSAGE_CHARS },
      });
    } catch (error) {
      next(error);
    }
  });

  router.get('/api/v1/chat/conversations/:conversationId/messages', auth, async (request, response, next) => {
    try {
      const { key } = embedContext(response);
      await limitChat(
        deps,
        request,
        embedContext(response),
        await loadAgent(deps, key.organizationId, key.agentId),
      );
      const conversationId = parseInput(conversationIdSchema, request.params.conversationId, 'params');
      const query = parseInput(z.object({ visitorId: visitorIdSchema }).loose(), request.query, 'query');
      // A signed-in user's conversations are theirs: the token (a header, never the URL) says who.
      const owner = await resolveOwner(deps, response, key, query.visitorId, request.get(userTokenHeader));
      const { conversation, messages } = await ownerMessages(
        deps,
        key.organizationId,
        key.agentId,
        conversationId,
        owner,
      );
      response.json({ conversationId: conversation.id, title: conversation.title, messages });
    } catch (error) {
      next(error);
    }
  });

  // A chat path under a method it does not serve is a 405 with Allow (preflights were answered above).
  for (const [path, method] of chatMethods) {
    router.all(path, (request, _response, next) => {
      const allow = [method, 'OPTIONS'];
      next(
        new ApiError('method_not_allowed', `${request.method} is not allowed here; use ${allow.join(', ')}`, {
          allow,
        }),
      );
    });
  }

  return router;
}

const chatMethods = [
  ['/api/v1/chat', 'POST'],
  ['/api/v1/chat/config', 'GET'],
  ['/api/v1/chat/conversations/:conversationId/messages', 'GET'],
] as const;

const chatErrors = {
  400: {
    description: 'Invalid input (validation_failed, invalid_json, invalid_body, invalid_path_parameter)',
  },
  401: { description: 'invalid_public_key or secret_key_not_allowed' },
  403: { description: 'origin_required or origin_not_allowed' },
  404: { description: 'conversation_not_found (another visitor’s conversation) or agent_not_found' },
  405: { description: 'method_not_allowed, with Allow' },
};

/** The chat API in the OpenAPI document (it streams, so it lives outside the route table). */
export function chatOpenApiPaths(): Record<string, Record<string, JsonSchema>> {
  const base = { tags: ['Chat'], security: [{ publishableKey: [] }] };
  return {
    '/api/v1/chat': {
      post: {
        ...base,
        operationId: 'chat',
        summary: "Send a visitor's message and stream the agent's answer (AI SDK UI message stream, SSE).",
        description:
          'The body is what the AI SDK DefaultChatTransport sends plus visitorId. Only the last (user) message is read; the history is the server’s own copy.',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: toSchema(chatRequest, 'input') } },
        },
        responses: {
          200: {
            description:
              'Server-sent events: start, start-step, text-delta, tool-input-available, tool-output-available, finish-step, finish, error parts',
            content: { 'text/event-stream': {} },
          },
          ...chatErrors,
          409: { description: 'conversation_too_long' },
          413: { description: 'message_too_long or payload_too_large' },
          415: { description: 'unsupported_media_type or unsupported_content_encoding' },
        },
      },
    },
    '/api/v1/chat/config': {
      get: {
        ...base,
        operationId: 'chatConfig',
        summary: "The agent's public settings for the widget: name, welcome message, starter prompts, theme.",
        responses: { 200: { description: 'The settings' }, ...chatErrors },
      },
    },
    '/api/v1/chat/conversations/{conversationId}/messages': {
      get: {
        ...base,
        operationId: 'chatHistory',
        summary: "The visitor's own conversation history, to resume after a reload.",
        parameters: [
          {
            name: 'conversationId',
            in: 'path',
            required: true,
            schema: toSchema(conversationIdSchema, 'input'),
          },
          { name: 'visitorId', in: 'query', required: true, schema: toSchema(visitorIdSchema, 'input') },
        ],
        responses: { 200: { description: '{ conversationId, title, messages }' }, ...chatErrors },
      },
    },
  };
}
