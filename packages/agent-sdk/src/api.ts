import { Emitter } from './client/emitter.ts';
import { createWidget } from './widget/launcher.ts';
import type { Widget, WidgetEvents, WidgetOptions } from './widget/widget.ts';

/**
 * The page's widget, behind functions that work at any time: events subscribed with `on` before
 * `init` (or across a `destroy` and a new `init`) still fire; the others do nothing until `init`.
 * This is `window.McpStack` for the script tag and the named exports of the ESM build.
 */
const handlers = new Emitter<WidgetEvents>();
let current: Widget | null = null;

/**
 * Mounts the widget (replacing one mounted before) and returns it.
 *
 * @example
 * ```ts
 * import { init } from '@mcpstack/agent-sdk';
 *
 * init({ publicKey: 'mcpstack_pk_…', apiBase: 'https://chat.example.com', position: 'bottom-left' });
 * ```
 */
export function init(options: WidgetOptions): Widget {
  current?.destroy();
  current = createWidget(options, (event, payload) => handlers.emit(event, payload));
  return current;
}

/**
 * Opens the chat panel.
 *
 * @example
 * ```ts
 * document.querySelector('#help')?.addEventListener('click', () => open());
 * ```
 */
export function open(): void {
  current?.open();
}

/**
 * Closes the chat panel (focus goes back to the launcher).
 *
 * @example
 * ```ts
 * close();
 * ```
 */
export function close(): void {
  current?.close();
}

/**
 * Opens the panel when closed, closes it when open.
 *
 * @example
 * ```ts
 * toggle();
 * ```
 */
export function toggle(): void {
  current?.toggle();
}

/**
 * Chats as a logged-in user: `userToken` is a JWT your backend signed (HS256 with the agent's
 * identity secret, or ES256/EdDSA), `sub` = your user id, `aud` = the agent id. Per-user budgets
 * then apply. A visitor who signs in starts a new conversation.
 *
 * @example
 * ```ts
 * const { token } = await fetch('/api/chat-token').then((response) => response.json());
 * identify(token);
 * ```
 */
export function identify(userToken: string): void {
  current?.identify(userToken);
}

/**
 * Back to an anonymous visitor (call it when the user logs out of your site).
 *
 * @example
 * ```ts
 * logout();
 * ```
 */
export function logout(): void {
  current?.logout();
}

/**
 * Opens the panel and sends `text` as the visitor's message; resolves when the answer ended.
 *
 * @example
 * ```ts
 * await sendMessage('Where is my order A-1001?');
 * ```
 */
export function sendMessage(text: string): Promise<void> {
  return current?.sendMessage(text) ?? Promise.resolve();
}

/**
 * Subscribes to an event: `open`, `close`, `ready`, `message`, `tool-call`, `error`,
 * `budget-exceeded`. Returns a function that unsubscribes.
 *
 * @example
 * ```ts
 * const off = on('budget-exceeded', (error) => analytics.track('chat_limit', { scope: error.scope }));
 * ```
 */
export function on<E extends keyof WidgetEvents>(
  event: E,
  handler: (payload: WidgetEvents[E]) => void,
): () => void {
  return handlers.on(event, handler);
}

/**
 * Removes the widget from the page (handlers from `on` are kept for a later `init`).
 *
 * @example
 * ```ts
 * destroy();
 * ```
 */
export function destroy(): void {
  current?.destroy();
  current = null;
}

/** The package version. */
export const version: string = __SDK_VERSION__;

/** The whole API as one object: `window.McpStack` on pages that use the script tag. */
export const McpStack = { init, open, close, toggle, identify, logout, sendMessage, on, destroy, version };
export type McpStackApi = typeof McpStack;
