/**
 * `npm run demo`: starts the service against the Redis at REDIS_URL and bootstraps a demo
 * organization with an admin key, then prints how to use it. (The full demo, with the local model,
 * a sample MCP server and a website embedding the widget, grows here as the product does.)
 */
import { randomBytes } from 'node:crypto';
import { createDeps, startServer } from '@mcpstack/chat/bootstrap';
import { parseEnv } from '@mcpstack/chat/env';

const adminToken = process.env.MCPSTACK_ADMIN_TOKEN ?? randomBytes(24).toString('hex');
const env = parseEnv({
  PORT: '8787',
  MCPSTACK_SECRET_KEY: randomBytes(24).toString('hex'),
  MCPSTACK_REDIS_PREFIX: 'mcpstack-demo:',
  MCPSTACK_ALLOW_PRIVATE_URLS: 'true',
  ...process.env,
  MCPSTACK_ADMIN_TOKEN: adminToken,
});

const deps = createDeps(env);
const running = await startServer(deps);

async function api(method: string, path: string, token: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${running.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

const slug = `demo-${randomBytes(3).toString('hex')}`;
const org = (await api('POST', '/organizations', adminToken, { name: 'Demo Store', slug })) as {
  id: string;
};
const key = (await api('POST', `/organizations/${org.id}/api-keys`, adminToken, {
  name: 'demo admin',
  roleKey: 'admin',
})) as { fullKey: string };

process.stdout.write(`
MCP Stack Agents demo is running.

  Service:        ${running.url}
  OpenAPI:        ${running.url}/api/v1/openapi.json
  Organization:   ${org.id} (${slug})
  Admin key:      ${key.fullKey}

  Try:  curl -H 'authorization: Bearer ${key.fullKey}' ${running.url}/api/v1/organizations/${org.id}/agents

Ctrl-C stops it.
`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    running.close().then(() => process.exit(0));
  });
}
