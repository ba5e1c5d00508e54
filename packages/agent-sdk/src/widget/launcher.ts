import { type ChatTheme, publishableKeyHeader } from '@mcpstack/chat-protocol';
import type { AgentConfig } from '../client/client.ts';
import { Emitter } from '../client/emitter.ts';
import { ChatError } from '../client/errors.ts';
import { addStyles } from './add-styles.ts';
import css from './launcher.css?inline';
// The script tag's build swaps this module for load-panel.script.ts (see vite.config.ts).
import { loadPanel } from './load-panel.ts';
import type { Panel } from './panel-contract.ts';
import type { Widget, WidgetEvents, WidgetOptions } from './widget.ts';

const hexColor = /^#([0-9a-f]{3}){1,2}$/i;
const defaultFont = 'system-ui,-apple-system,"Segoe UI",Roboto,sans-serif';
const chatIcon = 'M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z';
const closeIcon = 'M6 6l12 12M18 6 6 18';

/** Black or white, whichever reads better on `color` (perceived brightness, YIQ). */
export function readableOn(color: string): string {
  const hex = color.length === 4 ? color.replace(/\w/g, '$&$&') : color;
  const value = Number.parseInt(hex.slice(1), 16);
  const brightness = ((value >> 16) * 299 + ((value >> 8) & 255) * 587 + (value & 255) * 114) / 1000;
  return brightness > 150 ? '#111' : '#fff';
}

/** Marks for the benchmark (and any site that measures): `name`, then the frame after (painted). */
function mark(name: string): void {
  performance.mark(`mcpstack:${name}-rendered`);
  requestAnimationFrame(() => setTimeout(() => performance.mark(`mcpstack:${name}-visible`)));
}

/**
 * Mounts a widget: a `<mcpstack-agent>` element whose shadow root holds the launcher (or, with
 * `target`, the panel inline in that element). The launcher is plain DOM and renders at once; the
 * agent's settings restyle it when they arrive. The panel (Preact, the client, Markdown) is a
 * second file, loaded on the first open, or when the browser is idle after the page's load event,
 * whichever comes first; at once when the widget opens on load or mounts inline.
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
  const apiBase = (options.apiBase ?? location.origin).replace(/\/+$/, '');
  const host = document.createElement('mcpstack-agent');
  const shadow = host.attachShadow({ mode: 'open' });
  addStyles(shadow, css, options.nonce);
  const inline = options.target !== undefined;
  if (inline) host.setAttribute('data-inline', '');
  const root = document.createElement('div');
  shadow.append(root);
  let launcher: HTMLButtonElement | null = null;
  let icon = '';
  let config: AgentConfig | null = null;
  let isOpen = inline || options.open === true;
  let destroyed = false;
  let panel: Panel | null = null;
  let loading: Promise<Panel | null> | null = null;
  /** `identify`/`logout` before the panel loaded: replayed on its client (`undefined`: none). */
  let identity: string | null | undefined;
  /** `auto` follows the visitor's system setting, live. */
  const darkQuery = globalThis.matchMedia?.('(prefers-color-scheme: dark)');

  // The settings theme the launcher and name its label; the panel's client reads the same answer.
  const configResponse = fetch(`${apiBase}/api/v1/chat/config`, {
    headers: { [publishableKeyHeader]: `Bearer ${options.publicKey}` },
  });
  configResponse
    .then((response) => (response.ok ? response.clone().json() : null))
    .then((loaded: AgentConfig | null) => {
      config = loaded;
      paint();
    })
    .catch(() => {
      // shown by the panel, which reads the same failure
    });

  function paint(): void {
    if (destroyed) return;
    const theme: Partial<ChatTheme> = config?.theme ?? {};
    const scheme = options.colorScheme ?? theme.colorScheme ?? 'auto';
    const primary =
      [options.primaryColor, theme.primaryColor].find((color) => color && hexColor.test(color)) ?? '#4f46e5';
    const dark = scheme === 'dark' || (scheme === 'auto' && darkQuery?.matches);
    root.className = `root ${dark ? 'dark' : 'light'} ${
      (options.position ?? theme.position) === 'bottom-left' ? 'left' : 'right'
    }${isOpen ? ' open' : ''}${inline ? ' inline' : ''}`;
    root.style.setProperty('--p', primary);
    root.style.setProperty('--op', readableOn(primary));
    root.style.setProperty('--font', options.font ?? defaultFont);
    if (launcher) {
      launcher.setAttribute(
        'aria-label',
        `${isOpen ? 'Close' : 'Open'} chat with ${config?.name ?? 'Assistant'}`,
      );
      launcher.setAttribute('aria-expanded', String(isOpen));
      const path = isOpen ? closeIcon : chatIcon;
      if (path !== icon) {
        // Built node by node: innerHTML would fail on pages that enforce Trusted Types.
        icon = path;
        const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
        const line = document.createElementNS('http://www.w3.org/2000/svg', 'path');
        svg.setAttribute('viewBox', '0 0 24 24');
        svg.setAttribute('aria-hidden', 'true');
        line.setAttribute('d', path);
        svg.append(line);
        launcher.replaceChildren(svg);
      }
    }
    panel?.paint();
  }

  /** The panel, loaded once (a failed load is tried again on the next open). */
  function ensurePanel(): Promise<Panel | null> {
    loading ??= loadPanel(options.nonce).then(
      ({ mountPanel }) => {
        if (destroyed) return null;
        panel = mountPanel({ shadow, root, options, apiBase, inline, configResponse, emit, close });
        if (identity !== undefined) panel.identify(identity);
        if (isOpen) mark('panel');
        return panel;
      },
      (error: unknown) => {
        loading = null;
        console.warn('McpStack: the chat panel did not load', error);
        if (isOpen && !inline) {
          isOpen = false;
          paint();
        }
        return null;
      },
    );
    return loading;
  }

  const open = () => {
    if (isOpen || destroyed) return;
    isOpen = true;
    paint();
    if (panel) panel.focus();
    else {
      performance.mark('mcpstack:open');
      void ensurePanel().then((loaded) => isOpen && loaded?.focus());
    }
    emit('open', undefined);
  };
  const close = () => {
    if (!isOpen || inline || destroyed) return;
    isOpen = false;
    paint();
    launcher?.focus();
    emit('close', undefined);
  };
  const identify = (token: string | null) => {
    identity = token;
    panel?.identify(token);
  };

  const onSchemeChange = () => paint();
  darkQuery?.addEventListener?.('change', onSchemeChange);

  function mount(): void {
    if (destroyed) return;
    const target =
      typeof options.target === 'string'
        ? document.querySelector(options.target)
        : (options.target ?? document.body);
    if (!target) {
      emit(
        'error',
        new ChatError('invalid_target', `McpStack: no element matches ${String(options.target)}`),
      );
      return;
    }
    if (!inline) {
      launcher = document.createElement('button');
      launcher.type = 'button';
      launcher.className = 'launcher';
      launcher.setAttribute('aria-controls', 'mcpstack-panel');
      launcher.onclick = () => (isOpen ? close() : open());
      root.append(launcher);
    }
    target.append(host);
    paint();
    mark('launcher');
    if (isOpen) {
      if (!inline) emit('open', undefined);
      void ensurePanel();
      return;
    }
    // Nobody opened it yet: fetch the panel once the page has loaded and the browser is idle.
    const idle = () =>
      (globalThis as Partial<typeof globalThis>).requestIdleCallback
        ? requestIdleCallback(() => void ensurePanel(), { timeout: 5000 })
        : setTimeout(() => void ensurePanel(), 200);
    if (document.readyState === 'complete') idle();
    else addEventListener('load', idle, { once: true });
  }

  // A script in <head> may run before <body> exists.
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount, { once: true });

  return {
    open,
    close,
    toggle: () => (isOpen ? close() : open()),
    get isOpen() {
      return isOpen;
    },
    identify,
    logout: () => identify(null),
    async sendMessage(text) {
      open();
      await (await ensurePanel())?.sendMessage(text);
    },
    on: (event, handler) => events.on(event, handler),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      darkQuery?.removeEventListener?.('change', onSchemeChange);
      panel?.destroy();
      events.clear();
      host.remove();
    },
    get client() {
      return panel?.client ?? null;
    },
    loaded: async () => void (await ensurePanel()),
  };
}
