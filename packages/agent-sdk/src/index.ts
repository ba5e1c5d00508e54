/**
 * `@mcpstack/agent-sdk`: embed an MCP Stack agent in a website. This file is the package's main
 * public surface (`./client` is the headless client alone, `./react` the React bindings).
 *
 * - The widget: `init` (and `open`, `close`, `toggle`, `identify`, `logout`, `sendMessage`, `on`,
 *   `destroy`), the same API the script tag installs as `window.McpStack`; `createWidget` for more
 *   than one widget on a page. Its panel is a chunk of its own, imported on first open or when idle.
 * - The headless client, for your own UI: `createChatClient`, `ChatError`, `friendlyMessage`; the
 *   same exports as `./client`, which is the place that lists them.
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
export * from './client/index.ts';
export { createWidget } from './widget/launcher.ts';
export type { Widget, WidgetEvents, WidgetOptions } from './widget/widget.ts';
