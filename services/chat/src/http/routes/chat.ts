import { chatRequest } from '../../domain/chat/chat-request.ts';
import { type ChatOperation, chatHandlers } from '../chat/chat-routes.ts';
import {
  chatBudgetView,
  chatConfigView,
  chatHistoryView,
  conversationParams,
  userTokenHeaders,
  visitorQuery,
} from '../chat/chat-schemas.ts';
import { defineMountedRoute, type MountedRoute, type RouteDefinition } from '../route.ts';
import { errorResponse } from '../schemas.ts';

/** Where the chat API lives: CORS preflights are answered for every path under it. */
export const chatApiPath = '/api/v1/chat';

const chatErrors = {
  400: {
    description: 'Invalid input (validation_failed, invalid_json, invalid_body, invalid_path_parameter)',
    schema: errorResponse,
  },
  401: { description: 'invalid_public_key or secret_key_not_allowed', schema: errorResponse },
  403: {
    description: 'origin_required or origin_not_allowed (limitSource origin, with a remedy)',
    schema: errorResponse,
  },
  404: {
    description: 'conversation_not_found (another visitor’s conversation) or agent_not_found',
    schema: errorResponse,
  },
  405: { description: 'method_not_allowed, with Allow', schema: errorResponse },
  429: {
    description:
      'rate_limited (limitSource rate): the embed key, visitor or IP limit; retryAfterSeconds and Retry-After',
    schema: errorResponse,
  },
  503: {
    description: 'service_unavailable: the store cannot be reached; retry shortly',
    schema: errorResponse,
  },
};

const streamDescription =
  'Server-sent events: start, start-step, text-delta, tool-input-available, tool-output-available, finish-step, finish, error parts';

/** A chat route: the chat API checks its embed key, Origin and limits itself (`http/chat/`). */
function chatRoute(
  operationId: ChatOperation,
  route: Omit<MountedRoute, 'operationId' | 'tag' | 'auth' | 'mount'>,
): RouteDefinition {
  return defineMountedRoute({
    ...route,
    operationId,
    tag: 'Chat',
    auth: 'publishableKey',
    mount: chatHandlers,
  });
}

/** The public chat API for browsers: an agent's publishable key, from an Origin it allows. */
export const chatRoutes = [
  chatRoute('chat', {
    method: 'post',
    path: chatApiPath,
    summary: "Send a visitor's message and stream the agent's answer (AI SDK UI message stream, SSE).",
    description:
      'The body is what the AI SDK DefaultChatTransport sends plus visitorId. Only the last (user) message is read; the history is the server’s own copy.',
    body: chatRequest,
    responses: {
      200: { description: streamDescription, otherMediaTypes: ['text/event-stream'] },
      ...chatErrors,
      409: {
        description: 'conversation_too_long, or message_already_answered (the same message id again)',
        schema: errorResponse,
      },
      402: {
        description:
          'budget_exceeded: limitSource agent, user, anonymous or credits; reason cap_reached (retryable at resetsAt) or message_larger_than_cap; remedy for the site owner',
        schema: errorResponse,
      },
      429: {
        description:
          'rate_limited (limitSource rate), too_many_streams or budget_busy (limitSource in_flight: answers in progress hold the cap); retryAfterSeconds and Retry-After',
        schema: errorResponse,
      },
      413: { description: 'message_too_long or payload_too_large', schema: errorResponse },
      415: { description: 'unsupported_media_type or unsupported_content_encoding', schema: errorResponse },
    },
  }),
  chatRoute('chatConfig', {
    method: 'get',
    path: `${chatApiPath}/config`,
    summary: "The agent's public settings for the widget: name, welcome message, starter prompts, theme.",
    responses: { 200: { description: 'The settings', schema: chatConfigView }, ...chatErrors },
  }),
  chatRoute('chatBudget', {
    method: 'get',
    path: `${chatApiPath}/budget`,
    summary:
      "The visitor's budget meter: a signed user's cap (their own, else the agent's) in USD; for an anonymous visitor only the share of the guest pool left.",
    query: visitorQuery,
    headers: userTokenHeaders,
    responses: {
      200: {
        description: 'The meter (USD figures null for anonymous visitors; budget null when no cap applies)',
        schema: chatBudgetView,
      },
      ...chatErrors,
    },
  }),
  chatRoute('chatHistory', {
    method: 'get',
    path: `${chatApiPath}/conversations/{conversationId}/messages`,
    summary: "The visitor's own conversation history, to resume after a reload.",
    params: conversationParams,
    query: visitorQuery,
    headers: userTokenHeaders,
    responses: { 200: { description: 'The conversation', schema: chatHistoryView }, ...chatErrors },
  }),
  chatRoute('chatResume', {
    method: 'get',
    path: `${chatApiPath}/{conversationId}/stream`,
    summary: 'The answer in progress in the conversation, from its start, followed live (stream resume).',
    params: conversationParams,
    query: visitorQuery,
    headers: userTokenHeaders,
    responses: {
      200: {
        description: 'The answer as a UI message stream (SSE), as POST /api/v1/chat sends it',
        otherMediaTypes: ['text/event-stream'],
      },
      204: { description: 'No answer is streaming in this conversation' },
      ...chatErrors,
    },
  }),
  chatRoute('chatStop', {
    method: 'delete',
    path: `${chatApiPath}/{conversationId}/stream`,
    summary:
      'Stops the answer in progress in the conversation (its model and tool calls), from any instance.',
    params: conversationParams,
    query: visitorQuery,
    headers: userTokenHeaders,
    responses: { 204: { description: 'Stopped, or nothing was streaming' }, ...chatErrors },
  }),
];
