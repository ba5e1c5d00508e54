/**
 * `@mcpstack/agent-sdk/react`: the widget as a React component, and a hook on the headless client
 * for a React app that draws its own chat. React is a peer dependency: the app's own copy is used.
 * (Plain `createElement` calls rather than JSX: the package's JSX compiles for Preact.)
 */
import {
  type CSSProperties,
  createElement,
  type ReactElement,
  useCallback,
  useEffect,
  useMemo,
  useRef,
  useSyncExternalStore,
} from 'react';
import {
  type ChatClient,
  type ChatClientOptions,
  type ChatState,
  createChatClient,
} from './client/client.ts';
import { createWidget } from './widget/launcher.ts';
import type { WidgetEvents, WidgetOptions } from './widget/widget.ts';

const eventProps = {
  open: 'onOpen',
  close: 'onClose',
  ready: 'onReady',
  message: 'onMessage',
  'tool-call': 'onToolCall',
  error: 'onError',
  'budget-exceeded': 'onBudgetExceeded',
} as const;

type EventProps = {
  [E in keyof WidgetEvents as (typeof eventProps)[E]]?: (payload: WidgetEvents[E]) => void;
};

export interface McpStackChatProps extends Omit<WidgetOptions, 'target'>, EventProps {
  /** `inline` (the default): the chat fills this component's box. `launcher`: the bubble in the page's corner. */
  mode?: 'inline' | 'launcher';
  /** For the inline box. */
  className?: string;
  /** For the inline box (give it a height). */
  style?: CSSProperties;
}

/**
 * The MCP Stack chat widget in a React app: inline in this component's box, or as the launcher
 * bubble. A change of `userToken` signs the visitor in or out; a change of the key, origin, theme or
 * mode mounts a new widget. Event props (`onMessage`, `onError`, …) may change at any time.
 *
 * @example
 * ```tsx
 * import { McpStackChat } from '@mcpstack/agent-sdk/react';
 *
 * <McpStackChat
 *   publicKey="mcpstack_pk_…"
 *   apiBase="https://chat.example.com"
 *   userToken={session?.chatToken}
 *   style={{ height: 560 }}
 *   onMessage={(message) => console.log(message.role)}
 * />
 * ```
 */
export function McpStackChat(props: McpStackChatProps): ReactElement | null {
  const { mode = 'inline', className, style, userToken } = props;
  const box = useRef<HTMLDivElement>(null);
  const latest = useRef(props);
  latest.current = props;
  const widget = useRef<ReturnType<typeof createWidget> | null>(null);
  const { publicKey, apiBase, position, colorScheme, primaryColor, font, open, storage, nonce } = props;

  useEffect(() => {
    const created = createWidget(
      {
        publicKey,
        apiBase,
        position,
        colorScheme,
        primaryColor,
        font,
        open,
        storage,
        nonce,
        userToken: latest.current.userToken,
        target: mode === 'inline' ? (box.current ?? undefined) : undefined,
      },
      (event, payload) => {
        const handler = latest.current[eventProps[event]] as ((value: typeof payload) => void) | undefined;
        handler?.(payload);
      },
    );
    widget.current = created;
    return () => {
      created.destroy();
      widget.current = null;
    };
  }, [publicKey, apiBase, position, colorScheme, primaryColor, font, open, storage, nonce, mode]);

  useEffect(() => {
    if (userToken) widget.current?.identify(userToken);
    else widget.current?.logout();
  }, [userToken]);

  return mode === 'inline' ? createElement('div', { ref: box, className, style }) : null;
}

export interface McpStackChatHook {
  /** The client's state: messages, status, error… (a new object after every change). */
  state: ChatState;
  send(text: string): Promise<void>;
  stop(): void;
  retry(): Promise<void>;
  newConversation(): void;
  /** The headless client, for the rest (`config()`, `on(…)`). */
  client: ChatClient;
}

/**
 * The headless chat client as a React hook, for an app that draws its own chat UI: `state`
 * re-renders the component on every change (each streamed token too). The saved conversation is
 * loaded on mount (and an answer that was streaming is re-attached to); a change of `userToken`
 * signs in or out; a change of `publicKey` or `apiBase` makes a new client.
 *
 * @example
 * ```tsx
 * import { useMcpStackChat } from '@mcpstack/agent-sdk/react';
 *
 * function Chat() {
 *   const { state, send } = useMcpStackChat({ publicKey: 'mcpstack_pk_…', apiBase: 'https://chat.example.com' });
 *   return (
 *     <>
 *       {state.messages.map((message) => <Message key={message.id} message={message} />)}
 *       <button onClick={() => send('Where is my order?')}>Ask</button>
 *     </>
 *   );
 * }
 * ```
 */
export function useMcpStackChat(options: ChatClientOptions): McpStackChatHook {
  const { publicKey, apiBase, userToken } = options;
  const first = useRef(options);
  // A new client only for another key or service; the other options are read once.
  const client = useMemo(
    () => createChatClient({ ...first.current, publicKey, apiBase }),
    [publicKey, apiBase],
  );
  const subscribe = useCallback((onChange: () => void) => client.on('change', onChange), [client]);
  const state = useSyncExternalStore(
    subscribe,
    () => client.state,
    () => client.state,
  );
  useEffect(() => {
    void client.history();
    return () => client.stop();
  }, [client]);
  useEffect(() => client.identify(userToken ?? null), [client, userToken]);
  return useMemo(
    () => ({
      state,
      client,
      send: (text: string) => client.send(text),
      stop: () => client.stop(),
      retry: () => client.retry(),
      newConversation: () => client.newConversation(),
    }),
    [state, client],
  );
}
