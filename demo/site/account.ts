// The page's own backend (the demo server) signs a token for the signed-in user; the widget sends
// it with every message. Until the widget's script has loaded, calls wait in its queue.
type Stub = ((...args: unknown[]) => void) & { q?: unknown[][] };
const w = window as unknown as { McpStack?: Stub };
w.McpStack ??= Object.assign((...args: unknown[]) => {
  (w.McpStack as Stub).q ??= [];
  (w.McpStack as Stub).q?.push(args);
}, {});

const user = new URLSearchParams(location.search).get('user') ?? 'alice';
const label = document.getElementById('user');
if (label) label.textContent = user;
const response = await fetch(`/demo-api/user-token?user=${encodeURIComponent(user)}`);
const { token } = (await response.json()) as { token: string };
w.McpStack?.('identify', token);
