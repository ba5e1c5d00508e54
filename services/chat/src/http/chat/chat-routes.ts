import express, { type Request, type Response, type Router } from 'express';
import { Histogram } from 'prom-client';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { visitorBudget } from '../../domain/budgets/visitor-budget.ts';
import { chatRequest, conversationIdSchema, visitorIdSchema } from '../../domain/chat/chat-request.ts';
import { assertConversationOwner, ownerMessages } from '../../domain/chat/conversations.ts';
import {
  admitChatRequest,
  resolveOwner,
  startTurn,
  type Turn,
  type TurnSink,
} from '../../domain/chat/turn.ts';
import { uiMessageStreamHeaders } from '../../domain/chat/ui-stream.ts';
import { ApiError } from '../../errors.ts';
import { parseInput } from '../../validate.ts';
import { type JsonSchema, toSchema } from '../openapi.ts';
import { chatCors, embedAuth, embedContext } from './embed-auth.ts';

/** Header carrying the user token on GET requests (tokens never go in URLs, which get logged). */
export const userTokenHeader = 'x-mcpstack-user-token';

const clientIp = (request: Request) => request.ip ?? 'unknown';

/**
 * The answer's bytes on the Node response. Nothing is sent before the model answered (`begin`), so
 * the headers can carry the turn's `Server-Timing`; after that, the writes of one event-loop turn
 * go out as one socket write (a piece of text is a few dozen bytes; a write each was a syscall and
 * a chunk header each).
 */
function responseSink(response: Response, onBegin: () => Record<string, string>): TurnSink {
  let begun = false;
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '' || response.writableEnded) return;
    const text = pending;
    pending = '';
    response.write(text);
  };
  return {
    begin() {
      if (begun) return;
      begun = true;
      response.writeHead(200, { ...uiMessageStreamHeaders, ...onBegin() });
      if (pending !== '' && !scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    write(text) {
      pending += text;
      if (begun && !scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    end() {
      this.begin();
      flush();
      response.end();
    },
  };
}

/** `Server-Timing` of a turn: the stages before its first byte, in milliseconds. */
function serverTiming(stages: readonly { stage: string; ms: number }[]): string {
  return stages.map(({ stage, ms }) => `${stage};dur=${ms.toFixed(2)}`).join(', ');
}

/** The public chat API for browsers: publishable key + Origin on every request. */
export function chatRouter(deps: Deps): Router {
  const router = express.Router();
  const json = express.json({ limit: deps.env.MCPSTACK_CHAT_MAX_BODY_BYTES, strict: true });
  const auth = embedAuth(deps);
  const stageSeconds = new Histogram({
    name: 'mcpstack_chat_stage_seconds',
    help: "Time a chat turn spent in each stage before its first byte (routing, auth, body, limits, history, reserve, model's first byte)",
    labelNames: ['stage'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [deps.metrics],
  });

  async function answer(request: Request, response: Response): Promise<void> {
    const { key, origin } = embedContext(response);
    const bodyMs = performance.now() - Number(response.locals.authedAt ?? performance.now());
    const turn: Turn = await startTurn(deps, {
      key,
      origin,
      clientIp: clientIp(request),
      body: request.body,
    });
    const gone = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) gone.abort();
    });
    const sink = responseSink(response, () => {
      const stages = [
        { stage: 'routing', ms: Number(response.locals.routedMs ?? 0) },
        { stage: 'auth', ms: Number(response.locals.authMs ?? 0) },
        { stage: 'body', ms: bodyMs },
        ...turn.timings.stages,
      ];
      for (const { stage, ms } of stages) stageSeconds.observe({ stage }, ms / 1000);
      return { ...turn.headers, 'server-timing': serverTiming(stages) };
    });
    await turn.stream(sink, gone.signal);
  }

  router.use('/api/v1/chat', chatCors(deps));

  router.post('/api/v1/chat', auth, (request, response, next) => {
    if (!request.is('application/json')) {
      return next(
        new ApiError('unsupported_media_type', 'Send the body as JSON with "Content-Type: application/json"'),
      );
    }
    json(request, response, (error?: unknown) => {
      if (error) return next(error);
      answer(request, response).catch(next);
    });
  });

  router.get('/api/v1/chat/config', auth, async (request, response, next) => {
    try {
      const agent = await admitChatRequest(deps, embedContext(response), clientIp(request));
      response.json({
        agentId: agent.id,
        name: agent.name,
        welcomeMessage: agent.welcomeMessage,
        starterPrompts: agent.starterPrompts,
        theme: agent.theme,
        limits: { maxMessageChars: deps.env.MCPSTACK_CHAT_MAX_MESSAGE_CHARS },
        showUsageToUsers: agent.showUsageToUsers,
        budgetAlertThresholds: agent.budgetAlertThresholds,
      });
    } catch (error) {
      next(error);
    }
  });

  // The visitor's (or signed-in user's) budget meter, as each answer's finish carries it.
  router.get('/api/v1/chat/budget', auth, async (request, response, next) => {
    try {
      const { key } = embedContext(response);
      await admitChatRequest(deps, embedContext(response), clientIp(request));
      const query = parseInput(z.object({ visitorId: visitorIdSchema }).loose(), request.query, 'query');
      const headers: Record<string, string> = {};
      const owner = await resolveOwner(deps, key, query.visitorId, request.get(userTokenHeader), headers);
      for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
      response.json({ budget: await visitorBudget(deps, key.organizationId, key.agentId, owner) });
    } catch (error) {
      next(error);
    }
  });

  router.get('/api/v1/chat/conversations/:conversationId/messages', auth, async (request, response, next) => {
    try {
      const { key } = embedContext(response);
      await admitChatRequest(deps, embedContext(response), clientIp(request));
      const conversationId = parseInput(conversationIdSchema, request.params.conversationId, 'params');
      const query = parseInput(z.object({ visitorId: visitorIdSchema }).loose(), request.query, 'query');
      // A signed-in user's conversations are theirs: the token (a header, never the URL) says who.
      const headers: Record<string, string> = {};
      const owner = await resolveOwner(deps, key, query.visitorId, request.get(userTokenHeader), headers);
      for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
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

  /** The live answer of one of the visitor's (or user's) conversations, after the usual checks. */
  async function liveAnswerOf(request: Request, response: Response) {
    const { key } = embedContext(response);
    await admitChatRequest(deps, embedContext(response), clientIp(request));
    const conversationId = parseInput(conversationIdSchema, request.params.conversationId, 'params');
    const query = parseInput(z.object({ visitorId: visitorIdSchema }).loose(), request.query, 'query');
    const headers: Record<string, string> = {};
    const owner = await resolveOwner(deps, key, query.visitorId, request.get(userTokenHeader), headers);
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    await assertConversationOwner(deps, key.organizationId, key.agentId, conversationId, owner);
    return { organizationId: key.organizationId, conversationId };
  }

  // Resume (the AI SDK's `reconnectToStream`): the conversation's answer in progress from its start,
  // followed live, or 204 when none is streaming.
  router.get('/api/v1/chat/:conversationId/stream', auth, async (request, response, next) => {
    try {
      const live = await liveAnswerOf(request, response);
      const gone = new AbortController();
      response.on('close', () => {
        if (!response.writableFinished) gone.abort();
      });
      const sink = responseSink(response, () => ({}));
      const attached = await deps.liveAnswers.attach(
        live,
        {
          write(text) {
            sink.begin();
            sink.write(text);
          },
          end: () => sink.end(),
        },
        gone.signal,
      );
      if (!attached && !response.headersSent) response.status(204).end();
    } catch (error) {
      next(error);
    }
  });

  // Stop: the answer in progress ends now (the model and tool calls stop), from any instance.
  router.delete('/api/v1/chat/:conversationId/stream', auth, async (request, response, next) => {
    try {
      await deps.liveAnswers.stop(await liveAnswerOf(request, response));
      response.status(204).end();
    } catch (error) {
      next(error);
    }
  });

  // A chat path under a method it does not serve is a 405 with Allow (preflights were answered above).
  for (const [path, methods] of chatMethods) {
    router.all(path, (request, _response, next) => {
      const allow = [...methods, 'OPTIONS'];
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
  ['/api/v1/chat', ['POST']],
  ['/api/v1/chat/config', ['GET']],
  ['/api/v1/chat/budget', ['GET']],
  ['/api/v1/chat/conversations/:conversationId/messages', ['GET']],
  ['/api/v1/chat/:conversationId/stream', ['GET', 'DELETE']],
] as const;

const chatErrors = {
  400: {
    description: 'Invalid input (validation_failed, invalid_json, invalid_body, invalid_path_parameter)',
  },
  401: { description: 'invalid_public_key or secret_key_not_allowed' },
  403: { description: 'origin_required or origin_not_allowed (limitSource origin, with a remedy)' },
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
          409: {
            description: 'conversation_too_long, or message_already_answered (the same message id again)',
          },
          402: {
            description:
              'budget_exceeded: limitSource agent, user, anonymous or credits; reason cap_reached (retryable at resetsAt) or message_larger_than_cap; remedy for the site owner',
          },
          429: {
            description:
              'rate_limited (limitSource rate), too_many_streams or budget_busy (limitSource in_flight: answers in progress hold the cap); retryAfterSeconds and Retry-After',
          },
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
    '/api/v1/chat/budget': {
      get: {
        ...base,
        operationId: 'chatBudget',
        summary:
          "The visitor's budget meter: a signed user's cap (their own, else the agent's) in USD; for an anonymous visitor only the share of the guest pool left.",
        parameters: [
          { name: 'visitorId', in: 'query', required: true, schema: toSchema(visitorIdSchema, 'input') },
        ],
        responses: {
          200: {
            description:
              '{ budget: { scope, limitUsd, spentUsd, remainingUsd, remainingPercent, resetsAt, warnAtPercent } | null } (USD figures null for anonymous visitors; budget null when no cap applies)',
          },
          ...chatErrors,
        },
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
    '/api/v1/chat/{conversationId}/stream': {
      get: {
        ...base,
        operationId: 'chatResume',
        summary: 'The answer in progress in the conversation, from its start, followed live (stream resume).',
        parameters: conversationParameters,
        responses: {
          200: {
            description: 'The answer as a UI message stream (SSE), as POST /api/v1/chat sends it',
            content: { 'text/event-stream': {} },
          },
          204: { description: 'No answer is streaming in this conversation' },
          ...chatErrors,
        },
      },
      delete: {
        ...base,
        operationId: 'chatStop',
        summary:
          'Stops the answer in progress in the conversation (its model and tool calls), from any instance.',
        parameters: conversationParameters,
        responses: { 204: { description: 'Stopped, or nothing was streaming' }, ...chatErrors },
      },
    },
  };
}

const conversationParameters = [
  { name: 'conversationId', in: 'path', required: true, schema: toSchema(conversationIdSchema, 'input') },
  { name: 'visitorId', in: 'query', required: true, schema: toSchema(visitorIdSchema, 'input') },
];
