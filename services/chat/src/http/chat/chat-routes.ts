import {
  type ChatBudget,
  type ChatConfig,
  type ChatHistory,
  serverTimingHeader,
  userTokenHeader,
} from '@mcpstack/chat-protocol';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { Histogram } from 'prom-client';
import type { Deps } from '../../deps.ts';
import { visitorBudget } from '../../domain/budgets/visitor-budget.ts';
import { conversationIdSchema } from '../../domain/chat/chat-request.ts';
import { assertConversationOwner, ownerMessages } from '../../domain/chat/conversations.ts';
import {
  admitChatRequest,
  resolveOwner,
  startTurn,
  type Turn,
  type TurnSink,
} from '../../domain/chat/turn.ts';
import { uiMessageStreamHeaders } from '../../domain/chat/ui-stream.ts';
import type { EmbedKeyLookup } from '../../domain/embed-keys.ts';
import type { Owner } from '../../domain/owner.ts';
import { ApiError } from '../../errors.ts';
import { parseInput } from '../../validate.ts';
import { visitorQuery } from './chat-schemas.ts';
import { embedAuth, embedContext } from './embed-auth.ts';

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

/** The chat API's operations, by the operationId of their route (`http/routes/chat.ts`). */
export type ChatOperation = 'chat' | 'chatConfig' | 'chatBudget' | 'chatHistory' | 'chatResume' | 'chatStop';

/**
 * The public chat API's handlers, built once per router (they share the stage histogram): the
 * publishable key and Origin are checked first on every request (`embedAuth`).
 */
export function chatHandlers(deps: Deps): Record<ChatOperation, RequestHandler[]> {
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
      return { ...turn.headers, [serverTimingHeader]: serverTiming(stages) };
    });
    await turn.stream(sink, gone.signal);
  }

  const chat: RequestHandler = (request, response, next) => {
    if (!request.is('application/json')) {
      return next(
        new ApiError('unsupported_media_type', 'Send the body as JSON with "Content-Type: application/json"'),
      );
    }
    json(request, response, (error?: unknown) => {
      if (error) return next(error);
      answer(request, response).catch(next);
    });
  };

  const chatConfig: RequestHandler = async (request, response, next) => {
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
      } satisfies ChatConfig);
    } catch (error) {
      next(error);
    }
  };

  /**
   * Admits a chat read and says whose it is: the signed-in user a valid token names (a header,
   * never the URL), else the visitor of `?visitorId=`. A refused token is reported in a header.
   */
  async function readerOf(
    request: Request,
    response: Response,
  ): Promise<{ key: EmbedKeyLookup; owner: Owner }> {
    const context = embedContext(response);
    await admitChatRequest(deps, context, clientIp(request));
    const query = parseInput(visitorQuery, request.query, 'query');
    const headers: Record<string, string> = {};
    const owner = await resolveOwner(
      deps,
      context.key,
      query.visitorId,
      request.get(userTokenHeader),
      headers,
    );
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    return { key: context.key, owner };
  }

  // The visitor's (or signed-in user's) budget meter, as each answer's finish carries it.
  const chatBudget: RequestHandler = async (request, response, next) => {
    try {
      const { key, owner } = await readerOf(request, response);
      response.json({
        budget: await visitorBudget(deps, key.organizationId, key.agentId, owner),
      } satisfies ChatBudget);
    } catch (error) {
      next(error);
    }
  };

  const chatHistory: RequestHandler = async (request, response, next) => {
    try {
      // A signed-in user's conversations are theirs: the token says who.
      const { key, owner } = await readerOf(request, response);
      const conversationId = parseInput(conversationIdSchema, request.params.conversationId, 'params');
      const { conversation, messages } = await ownerMessages(
        deps,
        key.organizationId,
        key.agentId,
        conversationId,
        owner,
      );
      response.json({
        conversationId: conversation.id,
        title: conversation.title,
        messages,
      } satisfies ChatHistory);
    } catch (error) {
      next(error);
    }
  };

  /** The live answer of one of the visitor's (or user's) conversations, after the usual checks. */
  async function liveAnswerOf(request: Request, response: Response) {
    const { key, owner } = await readerOf(request, response);
    const conversationId = parseInput(conversationIdSchema, request.params.conversationId, 'params');
    await assertConversationOwner(deps, key.organizationId, key.agentId, conversationId, owner);
    return { organizationId: key.organizationId, conversationId };
  }

  // Resume (the AI SDK's `reconnectToStream`): the conversation's answer in progress from its start,
  // followed live, or 204 when none is streaming.
  const chatResume: RequestHandler = async (request, response, next) => {
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
  };

  // Stop: the answer in progress ends now (the model and tool calls stop), from any instance.
  const chatStop: RequestHandler = async (request, response, next) => {
    try {
      await deps.liveAnswers.stop(await liveAnswerOf(request, response));
      response.status(204).end();
    } catch (error) {
      next(error);
    }
  };

  return {
    chat: [auth, chat],
    chatConfig: [auth, chatConfig],
    chatBudget: [auth, chatBudget],
    chatHistory: [auth, chatHistory],
    chatResume: [auth, chatResume],
    chatStop: [auth, chatStop],
  };
}
