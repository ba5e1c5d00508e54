import { z } from 'zod';
import { getConversation, listConversations } from '../../domain/chat/conversations.ts';
import { agentRoutes } from '../route.ts';
import { agentParams, idParam, page, pageQuery } from '../schemas.ts';

const conversationParams = agentParams.extend({ conversationId: idParam });

const conversationView = z.object({
  id: z.string(),
  agentId: z.string(),
  visitorId: z.string().nullable().describe('The anonymous visitor, when the conversation is anonymous.'),
  externalUserId: z.string().nullable().describe('The identified end user, when signed in.'),
  title: z.string().describe('The start of the first message.'),
  messageCount: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const messageView = z
  .looseObject({
    id: z.string(),
    role: z.enum(['system', 'user', 'assistant']),
    parts: z.array(z.looseObject({ type: z.string() })),
    metadata: z.looseObject({ createdAt: z.string().optional() }).optional(),
  })
  .describe('An AI SDK UI message: text, tool-call and step parts.');

const conversationRoute = agentRoutes('Conversations');

export const conversationRoutes = [
  conversationRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/conversations',
    operationId: 'listConversations',
    summary: "List an agent's conversations, most recently active first.",
    permission: 'agents:read',
    params: agentParams,
    query: pageQuery,
    responses: { 200: { description: 'A page of conversations', schema: page(conversationView) } },
    async handle({ deps, params, query }) {
      return { body: await listConversations(deps, params.orgId, params.agentId, query) };
    },
  }),
  conversationRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/conversations/{conversationId}',
    operationId: 'getConversation',
    summary: 'Get a conversation.',
    permission: 'agents:read',
    params: conversationParams,
    responses: { 200: { description: 'The conversation', schema: conversationView } },
    async handle({ deps, params }) {
      const { conversation } = await getConversation(
        deps,
        params.orgId,
        params.agentId,
        params.conversationId,
      );
      return { body: conversation };
    },
  }),
  conversationRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/conversations/{conversationId}/messages',
    operationId: 'getConversationMessages',
    summary: "Get a conversation's messages, oldest first.",
    permission: 'agents:read',
    params: conversationParams,
    responses: {
      200: {
        description: 'The messages',
        schema: z.object({ conversationId: z.string(), data: z.array(messageView) }),
      },
    },
    async handle({ deps, params }) {
      const { messages } = await getConversation(deps, params.orgId, params.agentId, params.conversationId);
      // A copy per message: the AI SDK declares its message as an interface, which a loose object's
      // index signature does not accept.
      return {
        body: { conversationId: params.conversationId, data: messages.map((message) => ({ ...message })) },
      };
    },
  }),
];
