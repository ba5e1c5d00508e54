import type { ChatBudget, ChatConfig, ChatHistory } from '@mcpstack/chat-protocol';
import { userTokenHeader } from '@mcpstack/chat-protocol';
import { z } from 'zod';
import { conversationIdSchema, visitorIdSchema } from '../../domain/chat/chat-request.ts';
import { agentView } from '../routes/agents.ts';
import { messageView } from '../routes/conversations.ts';

/** The query of the chat reads: the visitor the widget keeps for this browser. */
export const visitorQuery = z.object({ visitorId: visitorIdSchema }).loose();

export const conversationParams = z.object({ conversationId: conversationIdSchema });

/** A signed-in user's token rides in a header on reads: URLs get logged. */
export const userTokenHeaders = z.object({
  [userTokenHeader]: z
    .string()
    .optional()
    .describe("A JWT the website's backend signed for its signed-in user: the read is then that user's."),
});

/** The agent's public settings, and nothing private (its instructions, tools, limits). */
export const chatConfigView = agentView
  .pick({
    name: true,
    welcomeMessage: true,
    starterPrompts: true,
    theme: true,
    showUsageToUsers: true,
    budgetAlertThresholds: true,
  })
  .extend({
    agentId: z.string(),
    limits: z.object({
      maxMessageChars: z.number().int().describe('The longest message the agent accepts.'),
    }),
  }) satisfies z.ZodType<ChatConfig>;

export const visitorBudgetView = z.object({
  scope: z
    .enum(['user', 'agent', 'anonymous'])
    .describe("The cap that binds: the signed-in user's own, the agent's, or the anonymous pool."),
  limitUsd: z.number().nullable().describe('Null for anonymous visitors: they see only the share left.'),
  spentUsd: z.number().nullable(),
  remainingUsd: z.number().nullable(),
  remainingPercent: z.number().describe('What is left of the cap, 0-100.'),
  resetsAt: z.string(),
  warnAtPercent: z
    .array(z.number())
    .describe("The agent's alert thresholds (percent spent), where the widget warns."),
});

export const chatBudgetView = z.object({
  budget: visitorBudgetView.nullable().describe('Null when no cap applies.'),
}) satisfies z.ZodType<ChatBudget>;

export const chatHistoryView = z.object({
  conversationId: z.string(),
  title: z.string(),
  messages: z.array(messageView),
}) satisfies z.ZodType<ChatHistory>;
