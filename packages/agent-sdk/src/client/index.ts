/**
 * `@mcpstack/agent-sdk/client`: the headless chat client alone, for an application that draws its
 * own chat UI (no Preact, no widget).
 *
 * @example
 * ```ts
 * import { createChatClient, friendlyMessage } from '@mcpstack/agent-sdk/client';
 *
 * const chat = createChatClient({ publicKey: 'mcpstack_pk_…', apiBase: 'https://chat.example.com' });
 * chat.on('change', (state) => render(state.messages));
 * chat.on('error', (error) => showBanner(friendlyMessage(error)));
 * await chat.history();
 * ```
 */
export {
  type AgentConfig,
  type ChatClient,
  type ChatClientEvents,
  type ChatClientOptions,
  type ChatState,
  type ChatStatus,
  createChatClient,
  type VisitorBudget,
} from './client.ts';
export { type BudgetScope, ChatError, type ChatErrorCode, friendlyMessage } from './errors.ts';
export type { ChatMessage, MessagePart, TextPart, ToolCallPart } from './messages.ts';
export type { KeyValueStorage } from './storage.ts';
