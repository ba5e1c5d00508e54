import { createRef, h, render } from 'preact';
import { type AgentConfig, type ChatClient, createChatClient } from '../client/client.ts';
import { Emitter } from '../client/emitter.ts';
import { ChatError } from '../client/errors.ts';
import { type ChatMessage, messageText, type ToolCallPart } from '../client/messages.ts';
import type { KeyValueStorage } from '../client/storage.ts';
import css from './styles.css?inline';
import { View, type ViewProps } from './view.tsx';

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
  /** The headless client the widget runs on. */
  readonly client: ChatClient;
}

const hexColor = /^#([0-9a-f]{3}){1,2}$/i;
const defaultFont = 'system-ui,-apple-system,"Segoe UI",Roboto,sans-serif';

/** Black or white, whichever reads better on `color` (perceived brightness, YIQ). */
export function readableOn(color: string): string {
  const hex = color.length === 4 ? color.replace(/\w/g, '$&$&') : color;
  const value = Number.parseInt(hex.slice(1), 16);
  const brightness = ((value >> 16) * 299 + ((value >> 8) & 255) * 587 + (value & 255) * 114) / 1000;
  return brightness > 150 ? '#111' : '#fff';
}

function adoptStyles(shadow: ShadowRoot): void {
  // A constructable stylesheet is not an inline style: a CSP without 'unsafe-inline' allows it.
  // (Chrome 73, Firefox 101, Safari 16.4; older browsers get an unstyled widget, not a broken page.)
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  shadow.adoptedStyleSheets = [sheet];
}

/** Marks for the benchmark (and any site that measures): the launcher rendered, then painted. */
function markLauncher(): void {
  performance.mark('mcpstack:launcher-rendered');
  requestAnimationFrame(() => setTimeout(() => performance.mark('mcpstack:launcher-visible')));
}

/**
 * Mounts a widget: a `<mcpstack-agent>` element whose shadow root holds the launcher and the panel
 * (or, with `target`, the panel inline in that element). The launcher renders at once with the
 * options' theme; the agent's settings and a saved conversation load behind it.
 *
 * @example
 * ```ts
 * import { createWidget } from '@mcpstack/agent-sdk';
 *
 * const widget = createWidget({ publicKey: 'mcpstack_pk_…', apiBase: 'https://chat.example.com' });
 * widget.on('message', (message) => console.log(message.role, message.parts));
 * widget.open();
 * ```
 */
export function createWidget(
  options: WidgetOptions,
  forward?: <E extends keyof WidgetEvents>(event: E, payload: WidgetEvents[E]) => void,
): Widget {
  if (!options?.publicKey) throw new Error('McpStack: publicKey is required');
  const events = new Emitter<WidgetEvents>();
  const emit = <E extends keyof WidgetEvents>(event: E, payload: WidgetEvents[E]) => {
    events.emit(event, payload);
    forward?.(event, payload);
  };
  const client = createChatClient({
    publicKey: options.publicKey,
    apiBase: options.apiBase ?? location.origin,
    userToken: options.userToken ?? null,
    storage: options.storage ?? null,
  });
  const host = document.createElement('mcpstack-agent');
  const shadow = host.attachShadow({ mode: 'open' });
  adoptStyles(shadow);
  const inline = options.target !== undefined;
  if (inline) host.setAttribute('data-inline', '');

  const refs: ViewProps['refs'] = { launcher: createRef(), input: createRef(), log: createRef() };
  let config: AgentConfig | null = null;
  let configError: ChatError | null = null;
  let isOpen = inline || options.open === true;
  let announcement = '';
  let mounted = false;
  let destroyed = false;
  let frame = 0;
  let stickToBottom = true;
  /** `auto` follows the visitor's system setting, live. */
  const darkQuery = globalThis.matchMedia?.('(prefers-color-scheme: dark)');

  const theme = () => {
    const scheme = options.colorScheme ?? config?.theme.colorScheme ?? 'auto';
    const primary = [options.primaryColor, config?.theme.primaryColor].find(
      (color) => color && hexColor.test(color),
    );
    const color = primary ?? '#4f46e5';
    return {
      primary: color,
      onPrimary: readableOn(color),
      left: (options.position ?? config?.theme.position) === 'bottom-left',
      scheme:
        scheme === 'dark' || (scheme === 'auto' && darkQuery?.matches)
          ? ('dark' as const)
          : ('light' as const),
      font: options.font ?? defaultFont,
    };
  };

  function paint(): void {
    frame = 0;
    if (destroyed || !mounted) return;
    const log = refs.log.current;
    // Follow the answer as it grows, unless the visitor scrolled up to read.
    if (log) stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    render(
      h(View, {
        state: client.state,
        config,
        configError,
        open: isOpen,
        inline,
        announcement,
        actions,
        refs,
        ...theme(),
      }),
      shadow,
    );
    if (log && stickToBottom) log.scrollTop = log.scrollHeight;
  }

  /** Streaming changes come per token: paint once per frame. */
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(paint);
  };

  const focusInput = () => refs.input.current?.focus();

  const open = () => {
    if (isOpen || destroyed) return;
    isOpen = true;
    paint();
    focusInput();
    emit('open', undefined);
  };
  const close = () => {
    if (!isOpen || inline || destroyed) return;
    isOpen = false;
    paint();
    refs.launcher.current?.focus();
    emit('close', undefined);
  };

  const busy = () => client.state.status === 'submitted' || client.state.status === 'streaming';
  const send = (text: string) => {
    if (busy()) return;
    stickToBottom = true;
    void client.send(text);
  };

  const actions: ViewProps['actions'] = {
    toggle: () => (isOpen ? close() : open()),
    close,
    submit() {
      const input = refs.input.current;
      if (!input || input.value.trim() === '') return;
      const text = input.value;
      input.value = '';
      input.style.height = '';
      send(text);
    },
    send,
    stop: () => client.stop(),
    retry() {
      if (configError) loadConfig();
      else void client.retry();
    },
    newConversation() {
      client.newConversation();
      focusInput();
    },
    keydown(event) {
      if (event.key === 'Escape' && !inline) {
        event.preventDefault();
        close();
      } else if (event.key === 'Tab' && !inline && matchMedia('(max-width:640px)').matches) {
        // Full screen on a phone, the panel is all there is: Tab wraps around inside it.
        const controls = (event.currentTarget as HTMLElement).querySelectorAll<HTMLElement>(
          'button,textarea',
        );
        const edge = controls[event.shiftKey ? 0 : controls.length - 1];
        if (event.target === edge) {
          event.preventDefault();
          controls[event.shiftKey ? controls.length - 1 : 0]?.focus();
        }
      } else if (
        event.key === 'Enter' &&
        !event.shiftKey &&
        !event.isComposing &&
        event.target === refs.input.current
      ) {
        event.preventDefault();
        if (!busy()) actions.submit();
      }
    },
    input(event) {
      // Grow with the text up to the CSS max-height (CSSOM: allowed under a strict CSP).
      const input = event.target as HTMLTextAreaElement;
      input.style.height = 'auto';
      input.style.height = `${input.scrollHeight + 2}px`;
    },
  };

  function loadConfig(): void {
    configError = null;
    schedule();
    client.config().then(
      (loaded) => {
        config = loaded;
        schedule();
        emit('ready', loaded);
      },
      (error: unknown) => {
        configError = error instanceof ChatError ? error : new ChatError('network_error', String(error));
        schedule();
        emit('error', configError);
      },
    );
  }

  const onSchemeChange = () => schedule();
  darkQuery?.addEventListener?.('change', onSchemeChange);
  const unsubscribe = [
    () => darkQuery?.removeEventListener?.('change', onSchemeChange),
    client.on('change', schedule),
    client.on('message', (message) => {
      if (message.role === 'assistant') {
        announcement = `${config?.name ?? 'Assistant'}: ${messageText(message).slice(0, 500)}`;
      }
      emit('message', message);
    }),
    ...(['tool-call', 'error', 'budget-exceeded'] as const).map((event) =>
      client.on(event, (payload) => emit(event, payload as never)),
    ),
  ];

  function mount(): void {
    if (destroyed) return;
    const target =
      typeof options.target === 'string'
        ? document.querySelector(options.target)
        : (options.target ?? document.body);
    if (!target) {
      configError = new ChatError('invalid_target', `McpStack: no element matches ${String(options.target)}`);
      emit('error', configError);
      return;
    }
    target.append(host);
    mounted = true;
    paint();
    markLauncher();
    if (isOpen && !inline) emit('open', undefined);
    loadConfig();
    if (client.state.conversationId) void client.history();
  }

  // A script in <head> may run before <body> exists.
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount, { once: true });

  return {
    open,
    close,
    toggle: actions.toggle,
    get isOpen() {
      return isOpen;
    },
    identify: (token) => client.identify(token),
    logout: () => client.identify(null),
    async sendMessage(text) {
      open();
      stickToBottom = true;
      await client.send(text);
    },
    on: (event, handler) => events.on(event, handler),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      if (frame) cancelAnimationFrame(frame);
      for (const stop of unsubscribe) stop();
      client.destroy();
      events.clear();
      render(null, shadow);
      host.remove();
    },
    client,
  };
}
