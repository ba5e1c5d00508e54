import { createRef, h, render } from 'preact';
import { type AgentConfig, createChatClient } from '../client/client.ts';
import { ChatError } from '../client/errors.ts';
import { messageText } from '../client/messages.ts';
import { addStyles } from './add-styles.ts';
import css from './panel.css?inline';
import type { Panel, PanelHost } from './panel-contract.ts';
import { View, type ViewProps } from './view.tsx';

/**
 * The chat panel (the second file of the script tag, the lazily imported chunk of the ESM build):
 * the Preact view and the headless client, rendered into the launcher's shadow root. Mounting it
 * loads the agent's settings and the saved conversation, and re-attaches to an answer that was
 * streaming when the page was left.
 */
export function mountPanel(host: PanelHost): Panel {
  const { shadow, root, options, inline, emit } = host;
  addStyles(shadow, css, options.nonce);
  const container = document.createElement('div');
  container.className = 'pc';
  root.append(container);
  const client = createChatClient({
    publicKey: options.publicKey,
    apiBase: host.apiBase,
    userToken: options.userToken ?? null,
    storage: options.storage ?? null,
    configResponse: host.configResponse,
  });

  const refs: ViewProps['refs'] = { input: createRef(), log: createRef() };
  let config: AgentConfig | null = null;
  let configError: ChatError | null = null;
  let announcement = '';
  let destroyed = false;
  let frame = 0;
  let stickToBottom = true;
  let wasBusy = false;
  const name = () => config?.name ?? 'Assistant';
  const busy = () => client.state.status === 'submitted' || client.state.status === 'streaming';

  function paint(): void {
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    if (destroyed) return;
    followViewport();
    const log = refs.log.current;
    // Follow the answer as it grows, unless the visitor scrolled up to read.
    if (log) stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    render(
      h(View, { state: client.state, config, configError, inline, announcement, actions, refs }),
      container,
    );
    if (log && stickToBottom) log.scrollTop = log.scrollHeight;
  }

  /** Streaming changes come per token: paint once per frame. */
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(paint);
  };

  const send = (text: string) => {
    if (busy()) return;
    stickToBottom = true;
    void client.send(text);
  };

  const actions: ViewProps['actions'] = {
    close: host.close,
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
      refs.input.current?.focus();
    },
    keydown(event) {
      if (event.key === 'Escape' && !inline) {
        event.preventDefault();
        host.close();
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
        if (loaded.showUsageToUsers) void client.budget();
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

  // Full screen on a phone, the panel takes the visual viewport's box (CSS variables, set through
  // the CSSOM: allowed under a strict CSP), so the on-screen keyboard never covers the input.
  // Read at each paint too: a page's viewport meta tag may change it before any event says so.
  const viewport = globalThis.visualViewport;
  function followViewport(): void {
    if (!viewport) return;
    root.style.setProperty('--vh', `${viewport.height}px`);
    root.style.setProperty('--vt', `${viewport.offsetTop}px`);
  }
  viewport?.addEventListener('resize', schedule);
  viewport?.addEventListener('scroll', schedule);

  const unsubscribe = [
    () => viewport?.removeEventListener('resize', schedule),
    () => viewport?.removeEventListener('scroll', schedule),
    client.on('change', () => {
      // Screen readers hear that an answer began once, not each token (the log itself is silent).
      const nowBusy = busy();
      if (nowBusy && !wasBusy) announcement = `${name()} is answering…`;
      wasBusy = nowBusy;
      schedule();
    }),
    client.on('message', (message) => {
      if (message.role === 'assistant') announcement = `${name()}: ${messageText(message).slice(0, 500)}`;
      emit('message', message);
    }),
    ...(['tool-call', 'error', 'budget-exceeded'] as const).map((event) =>
      client.on(event, (payload) => emit(event, payload as never)),
    ),
  ];

  paint();
  loadConfig();
  if (client.state.conversationId) void client.history();

  return {
    paint,
    focus: () => refs.input.current?.focus(),
    identify(token) {
      client.identify(token);
      if (config?.showUsageToUsers) void client.budget();
    },
    async sendMessage(text) {
      stickToBottom = true;
      await client.send(text);
    },
    destroy() {
      destroyed = true;
      if (frame) cancelAnimationFrame(frame);
      for (const stop of unsubscribe) stop();
      client.destroy();
      render(null, container);
    },
    client,
  };
}
