import { z } from 'zod';

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
export type ChatRequest = z.output<typeof chatRequest>;

export const textPart = z.object({ type: z.literal('text'), text: z.string() }).loose();
