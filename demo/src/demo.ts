/**
 * `npm run demo`: the whole product on one machine. It uses the Redis at REDIS_URL (or starts a
 * private redis-server), starts the service, the local model (or the real one when OPENAI_API_KEY
 * is set), a sample MCP server (a coffee shop) and a sample website (Vite) that embeds the widget,
 * bootstraps an organization, an agent, an embed key and budgets, and prints where to go.
 * Ctrl-C stops everything.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDeps, startServer } from '@mcpstack/chat/bootstrap';
import { parseEnv } from '@mcpstack/chat/env';
import { startLocalModel } from '@mcpstack/local-model';
import { apiClient, requestOk } from '@mcpstack/test-support/api';
import { redisAnswers, removeKeysAt, startRedisServer } from '@mcpstack/test-support/redis';
import {
  actingAs,
  createChatAgent,
  createIdentitySecret,
  createOrganization,
  organizationPath,
} from '@mcpstack/test-support/tenants';
import { SignJWT } from 'jose';
import { createServer as createVite, type Plugin } from 'vite';
import { z } from 'zod';
import { sharedPageTags } from './site-pages.ts';
import { startStoreServer } from './store-server.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const stops: (() => Promise<unknown> | unknown)[] = [];
const say = (text: string) => process.stdout.write(`${text}\n`);

/** The Redis at REDIS_URL, or a private redis-server in a temp dir (AOF on), or what to install. */
async function ensureRedis(): Promise<string> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await redisAnswers(url)) return url;
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(
      `No Redis answers at ${url} and redis-server is not installed.\n` +
        'Install Redis 7 (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis),\n' +
        'or set REDIS_URL to a running Redis, then run npm run demo again.',
    );
  }
  const started = await startRedisServer({ extraArgs: ['--appendonly', 'yes'] });
  stops.push(() => started.stop());
  say(`  (no Redis at ${url}: started a private redis-server on port ${started.port})`);
  return started.url;
}

/**
 * The widget's script and the console the service serves are built by `npm run build`; a part this
 * checkout never built (`output` missing) is built now.
 */
function ensureBuilt(what: string, workspace: string, output: string): void {
  if (existsSync(join(root, output))) return;
  say(`  building the ${what} (npm run build -w ${workspace})…`);
  const built = spawnSync('npm', ['run', 'build', '-w', workspace], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`The ${what} did not build: see the output above`);
}

async function main(): Promise<void> {
  say('\nMCP Stack Agents demo: starting…');
  ensureBuilt('widget', '@mcpstack/agent-sdk', 'packages/agent-sdk/dist/agent-sdk.iife.js');
  ensureBuilt('console', '@mcpstack/console', 'packages/console/dist/index.html');
  const redisUrl = await ensureRedis();
  const prefix = 'mcpstack-demo:';
  // The demo's own data from an earlier run (and only that) is cleared: each run starts fresh.
  await removeKeysAt(redisUrl, prefix);

  const realModel = Boolean(process.env.OPENAI_API_KEY);
  const model = realModel ? null : await startLocalModel({ chunkDelayMs: 25 });
  if (model) stops.push(() => model.close());
  const store = await startStoreServer();
  stops.push(() => store.close());

  const sitePort = Number(process.env.DEMO_SITE_PORT ?? 5173);
  const siteOrigin = `http://localhost:${sitePort}`;
  const adminToken = process.env.MCPSTACK_ADMIN_TOKEN ?? randomBytes(24).toString('hex');
  const env = parseEnv({
    MCPSTACK_SECRET_KEY: randomBytes(24).toString('hex'),
    MCPSTACK_ALLOW_PRIVATE_URLS: 'true',
    MCPSTACK_ALLOW_LOCALHOST_ORIGINS: 'true',
    MCPSTACK_LOG_LEVEL: 'warn',
    PORT: '8787',
    ...process.env,
    REDIS_URL: redisUrl,
    MCPSTACK_REDIS_PREFIX: prefix,
    MCPSTACK_ADMIN_TOKEN: adminToken,
    ...(model ? { OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'local' } : {}),
  });
  const deps = createDeps(env);
  const service = await startServer(deps);
  stops.unshift(() => service.close());
  const apiBase = service.url.replace('127.0.0.1', 'localhost');

  const api = apiClient(service.url, adminToken);
  const organization = await createOrganization(api, {
    name: 'Bean & Kettle',
    slug: 'bean-and-kettle',
    roles: ['admin'],
    keyName: () => 'demo admin',
  });
  const key = organization.keys.admin;
  const admin = actingAs(organization, 'admin');
  const base = organizationPath(organization.organizationId);
  const server = await requestOk(
    api,
    'POST',
    `${base}/mcp-servers`,
    { token: key, body: { name: 'Coffee shop', slug: 'shop', url: store.url }, status: 201 },
    z.object({ id: z.string() }),
  );
  const budget = { monthlyBudgetUsd: 5, defaultUserBudgetUsd: 0.5, anonymousMonthlyBudgetUsd: 1 };
  const { agentId, publicKey } = await createChatAgent(api, admin, {
    agent: {
      name: 'Bean & Kettle assistant',
      model: 'gpt-4.1-mini',
      instructions:
        'You help the customers of Bean & Kettle, a coffee shop. Use the tools; be brief and friendly.',
      mcpServerIds: [server.id],
      welcomeMessage: 'Hi! I can look up orders, track shipments and find coffee for you.',
      starterPrompts: [
        'What is the status of order A-1001?',
        'Which coffee beans do you sell?',
        'Shipping quote to uk',
      ],
      theme: { primaryColor: '#b45309' },
    },
    budget: { enabled: true, ...budget },
    embedKey: { name: 'demo site', allowedOrigins: [siteOrigin, `http://127.0.0.1:${sitePort}`] },
  });
  await requestOk(api, 'PUT', `${base}/agents/${agentId}/external-users/bob/budget`, {
    token: key,
    body: { monthlyBudgetUsd: 0.000001 },
    status: 200,
  });
  const identitySecret = await createIdentitySecret(api, admin, agentId);

  // The sample website: Vite, with the keys and the shared head and nav written into its pages, and
  // a tiny "backend" that signs user tokens, as a customer's own server would.
  const secret = new TextEncoder().encode(identitySecret);
  const demoPlugin: Plugin = {
    name: 'mcpstack-demo',
    transformIndexHtml: (html) => ({
      html: html
        .replaceAll('%API_BASE%', apiBase)
        .replaceAll('%PUBLIC_KEY%', publicKey)
        .replaceAll('%ANON_BUDGET%', String(budget.anonymousMonthlyBudgetUsd))
        .replaceAll('%USER_BUDGET%', String(budget.defaultUserBudgetUsd)),
      tags: sharedPageTags,
    }),
    configureServer(vite) {
      vite.middlewares.use('/demo-api/user-token', async (request, response) => {
        const user = new URL(request.url ?? '/', 'http://demo').searchParams.get('user') ?? 'alice';
        const token = await new SignJWT({ name: user })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(user.replace(/[^a-z0-9_-]/gi, '').slice(0, 40) || 'alice')
          .setAudience(agentId)
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(secret);
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ token }));
      });
    },
  };
  const site = await createVite({
    configFile: false,
    root: join(root, 'demo/site'),
    logLevel: 'warn',
    server: { port: sitePort, strictPort: true, host: 'localhost' },
    plugins: [demoPlugin],
  });
  await site.listen();
  stops.unshift(() => site.close());

  say(`
MCP Stack Agents demo is running.

  Website (launcher bubble)   ${siteOrigin}/
  Website (inline)            ${siteOrigin}/inline.html
  Website (signed-in user)    ${siteOrigin}/account.html   (?user=bob has a tiny budget)

  Service                     ${apiBase}    OpenAPI: ${apiBase}/api/v1/openapi.json
  Console                     ${apiBase}/console/
  Console (one-click sign-in) ${apiBase}/console/#key=${key}
                              (the key rides in the URL fragment, which no server or Referer sees;
                               the page swaps it for a session cookie and wipes it from the address bar)
  Model                       ${model ? `local model at ${model.url}` : `${env.OPENAI_BASE_URL} (OPENAI_API_KEY set)`}
  MCP server (coffee shop)    ${store.url}

  Organization                ${organization.organizationId}
  Agent                       ${agentId}
  Admin key                   ${key}
  Embed key                   ${publicKey}

  Try:
    curl -s ${apiBase}${base}/agents/${agentId}/budget -H 'authorization: Bearer ${key}'
    curl -s ${apiBase}${base}/agents/${agentId}/usage/llm-calls -H 'authorization: Bearer ${key}'
    curl -s ${apiBase}${base}/ai-credits/ledger -H 'authorization: Bearer ${key}'

Ctrl-C stops everything.
`);
}

let stopping = false;
async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const stop of stops) await Promise.resolve(stop()).catch(() => undefined);
  }
  process.exit(code);
}
process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));

main().catch(async (error: unknown) => {
  process.stderr.write(
    `\nThe demo could not start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  await stopAll(1);
});
