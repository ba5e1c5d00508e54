/**
 * `npm run demo`: the whole product on one machine. It uses the Redis at REDIS_URL (or starts a
 * private redis-server), starts the service, the local model (or the real one when OPENAI_API_KEY
 * is set), a sample MCP server (a coffee shop) and a sample website (Vite) that embeds the widget,
 * bootstraps an organization, an agent, an embed key and budgets, and prints where to go.
 * Ctrl-C stops everything.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDeps, startServer } from '@mcpstack/chat/bootstrap';
import { parseEnv } from '@mcpstack/chat/env';
import { startLocalModel } from '@mcpstack/local-model';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { createServer as createVite, type Plugin } from 'vite';
import { startStoreServer } from './store-server.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const stops: (() => Promise<unknown> | unknown)[] = [];
const say = (text: string) => process.stdout.write(`${text}\n`);

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

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
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'mcpstack-demo-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', directory, '--appendonly', 'yes', '--save', ''],
    { stdio: 'ignore' },
  );
  stops.push(() => {
    child.kill('SIGTERM');
    rmSync(directory, { recursive: true, force: true });
  });
  const started = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await redisAnswers(started)); i++) await new Promise((r) => setTimeout(r, 50));
  say(`  (no Redis at ${url}: started a private redis-server on port ${port})`);
  return started;
}

/** The widget's script is built by `npm run build`; build it now if this checkout never did. */
function ensureWidgetBuilt(): void {
  if (existsSync(join(root, 'packages/agent-sdk/dist/agent-sdk.iife.js'))) return;
  say('  building the widget (npm run build -w @mcpstack/agent-sdk)…');
  const built = spawnSync('npm', ['run', 'build', '-w', '@mcpstack/agent-sdk'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (built.status !== 0) throw new Error('The widget did not build: see the output above');
}

/** The console the service serves at /console/; built by `npm run build`, or now if never. */
function ensureConsoleBuilt(): void {
  if (existsSync(join(root, 'packages/console/dist/index.html'))) return;
  say('  building the console (npm run build -w @mcpstack/console)…');
  const built = spawnSync('npm', ['run', 'build', '-w', '@mcpstack/console'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (built.status !== 0) throw new Error('The console did not build: see the output above');
}

async function main(): Promise<void> {
  say('\nMCP Stack Agents demo: starting…');
  ensureWidgetBuilt();
  ensureConsoleBuilt();
  const redisUrl = await ensureRedis();
  const prefix = 'mcpstack-demo:';
  {
    // The demo's own data from an earlier run (and only that) is cleared: each run starts fresh.
    const client = new Redis(redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) await client.unlink(key);
    } while (cursor !== '0');
    client.disconnect();
  }

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

  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${service.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: the demo reads the few fields it prints
    const json: any = response.status === 204 ? {} : await response.json();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };

  const org = await api('POST', '/organizations', adminToken, {
    name: 'Bean & Kettle',
    slug: 'bean-and-kettle',
  });
  const admin = await api('POST', `/organizations/${org.id}/api-keys`, adminToken, {
    name: 'demo admin',
    role: 'admin',
  });
  const key = admin.fullKey as string;
  const base = `/organizations/${org.id}`;
  const server = await api('POST', `${base}/mcp-servers`, key, {
    name: 'Coffee shop',
    slug: 'shop',
    url: store.url,
  });
  const agent = await api('POST', `${base}/agents`, key, {
    name: 'Bean & Kettle assistant',
    model: realModel ? 'gpt-4.1-mini' : 'gpt-4.1-mini',
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
  });
  const budget = { monthlyBudgetUsd: 5, defaultUserBudgetUsd: 0.5, anonymousMonthlyBudgetUsd: 1 };
  await api('PATCH', `${base}/agents/${agent.id}/budget`, key, { enabled: true, ...budget });
  await api('PUT', `${base}/agents/${agent.id}/external-users/bob/budget`, key, {
    monthlyBudgetUsd: 0.000001,
  });
  const identity = await api('POST', `${base}/agents/${agent.id}/identity-secret`, key);
  const embed = await api('POST', `${base}/agents/${agent.id}/embed-keys`, key, {
    name: 'demo site',
    allowedOrigins: [siteOrigin, `http://127.0.0.1:${sitePort}`],
  });

  // The sample website: Vite, with the keys written into its pages and a tiny "backend" that
  // signs user tokens, as a customer's own server would.
  const secret = new TextEncoder().encode(identity.secret as string);
  const demoPlugin: Plugin = {
    name: 'mcpstack-demo',
    transformIndexHtml: (html) =>
      html
        .replaceAll('%API_BASE%', apiBase)
        .replaceAll('%PUBLIC_KEY%', embed.publicKey)
        .replaceAll('%ANON_BUDGET%', String(budget.anonymousMonthlyBudgetUsd))
        .replaceAll('%USER_BUDGET%', String(budget.defaultUserBudgetUsd)),
    configureServer(vite) {
      vite.middlewares.use('/demo-api/user-token', async (request, response) => {
        const user = new URL(request.url ?? '/', 'http://demo').searchParams.get('user') ?? 'alice';
        const token = await new SignJWT({ name: user })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(user.replace(/[^a-z0-9_-]/gi, '').slice(0, 40) || 'alice')
          .setAudience(agent.id)
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

  Organization                ${org.id}
  Agent                       ${agent.id}
  Admin key                   ${key}
  Embed key                   ${embed.publicKey}

  Try:
    curl -s ${apiBase}/api/v1/organizations/${org.id}/agents/${agent.id}/budget -H 'authorization: Bearer ${key}'
    curl -s ${apiBase}/api/v1/organizations/${org.id}/agents/${agent.id}/usage/llm-calls -H 'authorization: Bearer ${key}'
    curl -s ${apiBase}/api/v1/organizations/${org.id}/ai-credits/ledger -H 'authorization: Bearer ${key}'

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
