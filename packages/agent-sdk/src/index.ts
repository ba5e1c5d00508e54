/**
 * `@mcpstack/agent-sdk`: embed an MCP Stack agent in a website. This file is the package's main
 * public surface (`./client` is the headless client alone, `./react` the React bindings).
 *
 * - The widget: `init` (and `open`, `close`, `toggle`, `identify`, `logout`, `sendMessage`, `on`,
 *   `destroy`), the same API the script tag installs as `window.McpStack`; `createWidget` for more
 *   than one widget on a page. Its panel is a chunk of its own, imported on first open or when idle.
 * - The headless client, for your own UI: `createChatClient`, `ChatError`, `friendlyMessage`.
 */
export {
  close,
  destroy,
  identify,
  init,
  logout,
  McpStack,
  type McpStackApi,
  on,
  open,
  sendMessage,
  toggle,
  version,
} from './api.ts';
export {
  type AgentConfig,
  type ChatClient,
  type ChatClientEvents,
  type ChatClientOptions,
  type ChatState,
  type ChatStatus,
  createChatClient,
} from './client/client.ts';
export { type BudgetScope, ChatError, type ChatErrorCode, friendlyMessage } from './client/errors.ts';
export type { ChatMessage, MessagePart, TextPart, ToolCallPart } from './client/messages.ts';
export type { KeyValueStorage } from './client/storage.ts';
export { createWidget, type Widget, type WidgetEvents, type WidgetOptions } from './widget/launcher.ts';
