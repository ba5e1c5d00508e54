// A small React app, as a customer would write one, built by test/support/react-page.ts against the
// package's published exports (`@mcpstack/agent-sdk/react`, from dist/). Plain JavaScript: the
// typecheck runs before the build, when dist/ and its types do not exist yet.
import { McpStackChat, useMcpStackChat } from '@mcpstack/agent-sdk/react';
import { createElement as h, StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

const { publicKey, apiBase } = window.reactTest;
window.reactEvents = [];

/** An in-memory storage: the hook's conversation is its own, apart from the widget's. */
const values = new Map();
const storage = {
  getItem: (key) => values.get(key) ?? null,
  setItem: (key, value) => values.set(key, value),
  removeItem: (key) => values.delete(key),
};

function OwnChat() {
  const { state, send } = useMcpStackChat({ publicKey, apiBase, storage });
  return h(
    'section',
    { id: 'own-chat' },
    h(
      'ol',
      null,
      state.messages.map((message) =>
        h(
          'li',
          { key: message.id, 'data-role': message.role },
          message.parts.map((part) => (part.type === 'text' ? part.text : '')).join(''),
        ),
      ),
    ),
    h('p', { id: 'own-status' }, state.status),
    h('button', { id: 'own-ask', type: 'button', onClick: () => void send('Hello from React') }, 'Ask'),
  );
}

function App() {
  return h(
    'main',
    null,
    h(McpStackChat, {
      publicKey,
      apiBase,
      className: 'chat-box',
      style: { width: 480, height: 560 },
      onReady: (config) => window.reactEvents.push(`ready:${config.name}`),
      onMessage: (message) => window.reactEvents.push(`message:${message.role}`),
    }),
    h(OwnChat),
  );
}

// StrictMode mounts, unmounts and mounts again: the widget must survive being destroyed and remade.
createRoot(document.getElementById('root')).render(h(StrictMode, null, h(App)));
