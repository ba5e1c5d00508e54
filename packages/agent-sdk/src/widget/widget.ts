import type { AgentConfig, ChatClient } from '../client/client.ts';
import type { ChatError } from '../client/errors.ts';
import type { ChatMessage, ToolCallPart } from '../client/messages.ts';
import type { KeyValueStorage } from '../client/storage.ts';

// What a widget is to the page: how it is set up, what it tells, and the handle `createWidget`
// returns. Kept apart from launcher.ts so that the panel names them without importing the launcher.

/** How a widget is set up: by `init(options)` or by the script tag's `data-*` attributes. */
export interface WidgetOptions {
  /** The agent's publishable embed key, `mcpstack_pk_…` (`data-public-key`). */
  publicKey: string;
  /** The chat service's origin (`data-api-base`); the script's own origin for the script tag. */
  apiBase?: string;
  /** Where the launcher and panel sit (`data-position`); the agent's setting by default. */
  position?: 'bottom-right' | 'bottom-left';
  /** `light`, `dark`, or `auto` to follow the visitor's system (`data-color-scheme`). */
  colorScheme?: 'light' | 'dark' | 'auto';
  /** A hex color like `#4f46e5` (`data-primary-color`); the agent's setting by default. */
  primaryColor?: string;
  /** A CSS font-family list (`data-font`); the system UI font by default. */
  font?: string;
  /** Open the panel when the page loads (`data-open`). */
  open?: boolean;
  /** Mount inline into this element (or the first element matching this selector), without a launcher (`data-target`). */
  target?: string | HTMLElement;
  /** A JWT your backend signed for the logged-in user; see `identify`. */
  userToken?: string;
  /** Where the visitor and conversation ids are kept; `localStorage` by default. */
  storage?: KeyValueStorage | null;
  /**
   * The page's CSP nonce (`data-nonce`; the script tag's own nonce by default): put on the panel's
   * script and, in browsers without constructable stylesheets, on the widget's `<style>`.
   */
  nonce?: string;
}

/** The events of a widget (and of `McpStack.on`), with their payloads. */
export interface WidgetEvents {
  open: undefined;
  close: undefined;
  /** The agent's settings arrived. */
  ready: AgentConfig;
  /** The visitor sent a message, or an answer finished. */
  message: ChatMessage;
  /** A tool call started or ended; `title` is its display name. */
  'tool-call': ToolCallPart;
  /** A failure (or a refused user token): `code`, and `message`. */
  error: ChatError;
  /** A monthly limit was reached; `scope` says whose (`agent`, `user`, `anonymous`, `credits`). */
  'budget-exceeded': ChatError;
}

export interface Widget {
  open(): void;
  close(): void;
  toggle(): void;
  readonly isOpen: boolean;
  /** Chat as the user the token names (signed by your backend); starts a new conversation. */
  identify(userToken: string): void;
  /** Back to an anonymous visitor; starts a new conversation. */
  logout(): void;
  /** Opens the panel and sends this message as the visitor. */
  sendMessage(text: string): Promise<void>;
  on<E extends keyof WidgetEvents>(event: E, handler: (payload: WidgetEvents[E]) => void): () => void;
  /** Removes the widget from the page and stops any answer. */
  destroy(): void;
  /** The headless client the widget runs on: `null` until the panel has loaded (see `loaded`). */
  readonly client: ChatClient | null;
  /** Resolves once the panel (and its client) has loaded: on first open, or when the browser is idle. */
  loaded(): Promise<void>;
}
