import { stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  adminToken,
  startTestService,
  type Tenant,
  type TestService,
  uniqueSlug,
} from '../../../services/chat/test/support/harness.ts';
import { startTestMcpServer } from '../../../services/chat/test/support/mcp-server.ts';
import { createCli } from './support/cli.ts';

// Every command is a node process of its own, and a test runs up to 16 of them: seconds each on a
// loaded 2-core machine. A generous ceiling; nothing here waits on a fixed time.
vi.setConfig({ testTimeout: 180_000 });

let service: TestService;
let cli: ReturnType<typeof createCli>;
let tenant: Tenant;

beforeAll(async () => {
  service = await startTestService({ MCPSTACK_FREE_CREDITS_USD: '0' });
  cli = createCli({ apiUrl: service.url });
  await cli.setup();
  tenant = await service.createTenant();
});
afterAll(async () => {
  await cli.cleanup();
  await service.stop();
});

const json = (stdout: string) => JSON.parse(stdout);

describe('mcpstack auth', () => {
  it('logs in with a service-account key, stores it owner-only, never prints it, and logs out', async () => {
    const login = await cli.run(['auth', 'service-account', 'login', '--key', tenant.keys.admin]);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`(admin) in ${tenant.organizationId}`);
    expect(login.stdout + login.stderr).not.toContain(tenant.keys.admin);
    const secret = tenant.keys.admin.split('_').at(-1)!;
    expect(login.stdout + login.stderr).not.toContain(secret);

    const file = await stat(cli.configFile());
    expect(file.mode & 0o777).toBe(0o600);

    // The stored key and its organization are used without any MCPSTACK_API_KEY or --org.
    const whoami = await cli.run(['auth', 'whoami', '--json']);
    expect(whoami.code, whoami.stderr).toBe(0);
    const api = await service.call('GET', '/api/v1/cli/whoami', { token: tenant.keys.admin });
    expect(json(whoami.stdout)).toEqual(api.body);
    expect(whoami.stdout).not.toContain(secret);

    const agents = await cli.run(['agents', 'list', '--json']);
    expect(agents.code, agents.stderr).toBe(0);
    expect(json(agents.stdout)).toEqual({ data: [], nextCursor: null });

    const logout = await cli.run(['auth', 'logout']);
    expect(logout.code).toBe(0);
    await expect(stat(cli.configFile())).rejects.toThrow();
    const after = await cli.run(['auth', 'whoami']);
    expect(after.code).toBe(2);
    expect(after.stderr).toContain('Not logged in');
  });

  it('refuses a wrong key at login with the API error and exit 1, storing nothing', async () => {
    const login = await cli.run(['auth', 'service-account', 'login', '--key', 'mcpstack_sk_00000000_nope']);
    expect(login.code).toBe(1);
    expect(login.stderr).toMatch(/^error: invalid_api_key: /);
    await expect(stat(cli.configFile())).rejects.toThrow();
  });
});

describe('mcpstack as the operator', () => {
  it('creates and lists organizations with the operator token', async () => {
    const slug = uniqueSlug('cli');
    const env = { MCPSTACK_API_KEY: adminToken };
    const created = await cli.run(['org', 'create', '--name', 'Made by CLI', '--slug', slug, '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const organization = json(created.stdout);
    expect(organization).toMatchObject({ slug, name: 'Made by CLI' });

    const key = await cli.run(
      ['api-keys', 'create', '--org', organization.id, '--name', 'first-admin', '--role', 'admin', '--json'],
      env,
    );
    expect(key.code, key.stderr).toBe(0);
    expect(json(key.stdout).fullKey).toMatch(/^mcpstack_sk_/);

    const listed = await cli.run(['org', 'list'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+SLUG\s+NAME/);
    expect(listed.stdout).toContain(slug);

    // An organization key cannot create organizations.
    const refused = await cli.run(['org', 'create', '--name', 'No', '--slug', uniqueSlug('no')], {
      MCPSTACK_API_KEY: json(key.stdout).fullKey,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('insufficient_permissions');
  });
});

describe('keys and roles', () => {
  it('creates a developer key whose permissions the API enforces', async () => {
    const admin = { MCPSTACK_API_KEY: tenant.keys.admin, MCPSTACK_ORG_ID: tenant.organizationId };
    const created = await cli.run(
      ['api-keys', 'create', '--name', 'automation-bot', '--role', 'developer', '--json'],
      admin,
    );
    expect(created.code, created.stderr).toBe(0);
    const key = json(created.stdout);
    expect(key).toMatchObject({ name: 'automation-bot', role: 'developer' });

    const listed = await cli.run(['api-keys', 'list', '--org', tenant.organizationId, '--json'], {
      MCPSTACK_API_KEY: tenant.keys.admin,
    });
    expect(json(listed.stdout).data.map((entry: { id: string }) => entry.id)).toContain(key.id);

    const developer = { MCPSTACK_API_KEY: key.fullKey };
    const whoami = await cli.run(['auth', 'whoami', '--json'], developer);
    expect(json(whoami.stdout).permissions).toEqual([
      'organization:read',
      'agents:read',
      'agents:manage',
      'usage:read',
      'billing:read',
    ]);
    // Without a login, nothing remembers the key's organization: --org names it.
    const agent = await cli.run(
      ['agents', 'create', '--org', tenant.organizationId, '--name', 'Dev bot', '--json'],
      developer,
    );
    expect(agent.code, agent.stderr).toBe(0);
    expect(json(agent.stdout)).toMatchObject({ name: 'Dev bot', organizationId: tenant.organizationId });

    const keys = await cli.run(['api-keys', 'list', '--org', tenant.organizationId], developer);
    expect(keys.code).toBe(1);
    expect(keys.stderr).toBe(
      'error: insufficient_permissions: The developer role lacks the keys:manage permission (HTTP 403)\n',
    );
    expect(keys.stdout).toBe('');
  });

  it('exits 1 with the API error for a revoked key, from its very next command', async () => {
    const admin = { MCPSTACK_API_KEY: tenant.keys.admin, MCPSTACK_ORG_ID: tenant.organizationId };
    const created = json(
      (await cli.run(['api-keys', 'create', '--name', 'short-lived', '--role', 'viewer', '--json'], admin))
        .stdout,
    );
    const viewer = { MCPSTACK_API_KEY: created.fullKey, MCPSTACK_ORG_ID: tenant.organizationId };
    expect((await cli.run(['agents', 'list'], viewer)).code).toBe(0);

    const revoked = await cli.run(['api-keys', 'revoke', created.id], admin);
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await cli.run(['agents', 'list'], viewer);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/^error: invalid_api_key: .+ \(HTTP 401\)\n$/);
  });

  it('refuses a viewer writing (exit 1, insufficient_permissions) and leaves nothing behind', async () => {
    const viewer = { MCPSTACK_API_KEY: tenant.keys.viewer, MCPSTACK_ORG_ID: tenant.organizationId };
    const before = json((await cli.run(['agents', 'list', '--json'], viewer)).stdout).data.length;
    const write = await cli.run(['agents', 'create', '--name', 'Not allowed'], viewer);
    expect(write.code).toBe(1);
    expect(write.stderr).toBe(
      'error: insufficient_permissions: The viewer role lacks the agents:manage permission (HTTP 403)\n',
    );
    expect(json((await cli.run(['agents', 'list', '--json'], viewer)).stdout).data.length).toBe(before);
  });

  it('tells a missing organization apart: none given is a usage error (2), an unknown one a refusal (1)', async () => {
    const none = await cli.run(['agents', 'list'], { MCPSTACK_API_KEY: tenant.keys.admin });
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('error: No organization: pass --org <orgId> or set MCPSTACK_ORG_ID\n');

    const unknown = await cli.run(['agents', 'list', '--org', 'org_doesnotexist'], {
      MCPSTACK_API_KEY: tenant.keys.admin,
    });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      'error: organization_not_found: No organization org_doesnotexist (HTTP 404)\n',
    );
  });

  it('answers usage errors with exit 2 and help with exit 0', async () => {
    const missingOption = await cli.run(['api-keys', 'create', '--role', 'developer'], {
      MCPSTACK_API_KEY: tenant.keys.admin,
    });
    expect(missingOption.code).toBe(2);
    expect(missingOption.stderr).toContain("required option '--name <name>' not specified");

    const badRole = await cli.run(['api-keys', 'create', '--name', 'x', '--role', 'owner']);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('Allowed choices are admin, developer, viewer, billing');

    expect((await cli.run(['no-such-command'])).code).toBe(2);
    expect((await cli.run(['budgets', 'set', 'agent_x', '--monthly-usd', 'lots'])).code).toBe(2);

    const help = await cli.run(['budgets', 'set', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('mcpstack budgets set agent_… --monthly-usd 500');
  });
});

describe('servers and agents', () => {
  it('registers a real MCP server, lists its tools, and wires an agent to it', async () => {
    const mcp = await startTestMcpServer({ bearerToken: 'cli-test-token' });
    try {
      const env = { MCPSTACK_API_KEY: tenant.keys.developer, MCPSTACK_ORG_ID: tenant.organizationId };
      const created = await cli.run(
        [
          'servers',
          'create',
          '--name',
          'Shop',
          '--slug',
          uniqueSlug('shop'),
          '--url',
          mcp.url,
          '--header',
          'Authorization: Bearer cli-test-token',
          '--json',
        ],
        env,
      );
      expect(created.code, created.stderr).toBe(0);
      const server = json(created.stdout);
      expect(server.headerNames).toEqual(['Authorization']);
      expect(created.stdout).not.toContain('cli-test-token');

      const listed = await cli.run(['servers', 'list', '--json'], env);
      const api = await service.call('GET', `/api/v1/organizations/${tenant.organizationId}/mcp-servers`, {
        token: tenant.keys.developer,
      });
      expect(json(listed.stdout)).toEqual(api.body);

      const tools = await cli.run(['servers', 'tools', server.id], env);
      expect(tools.code, tools.stderr).toBe(0);
      expect(tools.stdout).toMatch(/^ID\s+NAME\s+ENABLED/);
      expect(tools.stdout).toContain('list_products');
      expect((await cli.run(['servers', 'get', server.id], env)).stdout).toMatch(/^catalogStatus\s+ok$/m);

      const agent = json(
        (await cli.run(['agents', 'create', '--name', 'Shopper', '--mcp-server', server.id, '--json'], env))
          .stdout,
      );
      expect(agent.mcpServerIds).toEqual([server.id]);
      const updated = await cli.run(
        ['agents', 'update', agent.id, '--max-steps', '3', '--body', '{"welcomeMessage":"Hi"}', '--json'],
        env,
      );
      expect(json(updated.stdout)).toMatchObject({
        maxSteps: 3,
        welcomeMessage: 'Hi',
        mcpServerIds: [server.id],
      });
      expect(json((await cli.run(['agents', 'get', agent.id, '--json'], env)).stdout)).toEqual(
        json(updated.stdout),
      );

      const keys = await cli.run(
        ['embed-keys', 'create', '--agent', agent.id, '--origin', 'https://shop.example.com', '--json'],
        env,
      );
      expect(json(keys.stdout).publicKey).toMatch(/^mcpstack_pk_/);
      expect((await cli.run(['embed-keys', 'list', '--agent', agent.id], env)).stdout).toContain(
        'https://shop.example.com',
      );
      const domain = json(
        (await cli.run(['domains', 'add', 'shop.example.com', '--agent', agent.id, '--json'], env)).stdout,
      );
      expect(domain).toMatchObject({ domain: 'shop.example.com', status: 'pending' });
      expect((await cli.run(['domains', 'remove', domain.id, '--agent', agent.id], env)).code).toBe(0);

      expect((await cli.run(['usage', 'agent', agent.id, '--json'], env)).code).toBe(0);
      expect(json((await cli.run(['usage', 'llm-calls', agent.id, '--json'], env)).stdout)).toEqual({
        data: [],
        nextCursor: null,
      });

      expect((await cli.run(['agents', 'delete', agent.id], env)).code).toBe(0);
      expect((await cli.run(['servers', 'delete', server.id], env)).code).toBe(0);
      const gone = await cli.run(['servers', 'get', server.id], env);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/^error: \w+_not_found: /);
    } finally {
      await mcp.stop();
    }
  });
});

describe('budgets', () => {
  it('sets an agent budget and a user override, and reads them back as the API does', async () => {
    const env = { MCPSTACK_API_KEY: tenant.keys.developer, MCPSTACK_ORG_ID: tenant.organizationId };
    const agentId = json(
      (await cli.run(['agents', 'create', '--name', 'Budgeted', '--json'], env)).stdout,
    ).id;

    const set = await cli.run(
      [
        'budgets',
        'set',
        agentId,
        '--monthly-usd',
        '50',
        '--default-user-usd',
        '2.5',
        '--anonymous-usd',
        '10',
        '--enable',
        '--json',
      ],
      env,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(json(set.stdout)).toMatchObject({
      enabled: true,
      monthlyBudgetUsd: 50,
      defaultUserBudgetUsd: 2.5,
      anonymousMonthlyBudgetUsd: 10,
    });
    const got = await cli.run(['budgets', 'get', agentId, '--json'], env);
    const api = await service.call(
      'GET',
      `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/budget`,
      {
        token: tenant.keys.developer,
      },
    );
    expect(json(got.stdout)).toEqual(api.body);
    const readable = await cli.run(['budgets', 'get', agentId], env);
    expect(readable.stdout).toMatch(/^monthlyBudgetUsd\s+50$/m);

    const override = await cli.run(
      ['users', 'budget', 'set', 'user-42', '--agent', agentId, '--monthly-usd', '7.25', '--json'],
      env,
    );
    expect(override.code, override.stderr).toBe(0);
    const user = await cli.run(['users', 'budget', 'get', 'user-42', '--agent', agentId, '--json'], env);
    expect(json(user.stdout)).toMatchObject({
      externalUserId: 'user-42',
      source: 'override',
      monthlyBudgetUsd: 7.25,
    });
    expect(json((await cli.run(['budgets', 'get', agentId, '--json'], env)).stdout)).toMatchObject({
      assignedUserCount: 1,
      assignedBudgetUsd: 7.25,
    });

    expect((await cli.run(['users', 'budget', 'remove', 'user-42', '--agent', agentId], env)).code).toBe(0);
    const back = await cli.run(['users', 'budget', 'get', 'user-42', '--agent', agentId, '--json'], env);
    expect(json(back.stdout)).toMatchObject({ source: 'default', monthlyBudgetUsd: 2.5 });
    const again = await cli.run(['users', 'budget', 'remove', 'user-42', '--agent', agentId], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('error: not_found: User user-42 has no budget override');
  });
});

describe('credits', () => {
  it('exports the ledger as CSV, byte for byte what the API sends', async () => {
    const adjustments = `/api/v1/organizations/${tenant.organizationId}/ai-credits/adjustments`;
    for (const [amountUsd, reason] of [
      [25, 'Welcome grant'],
      [-1.5, 'Refund, "partial"\nsecond line'],
      [3.25, '=SUM(A1:A9) looks like a formula'],
    ] as const) {
      const adjusted = await service.call('POST', adjustments, {
        token: tenant.keys.admin,
        body: { amountUsd, reason },
      });
      expect(adjusted.status, adjusted.text).toBe(201);
    }
    const env = { MCPSTACK_API_KEY: tenant.keys.billing, MCPSTACK_ORG_ID: tenant.organizationId };
    const ledgerPath = `/api/v1/organizations/${tenant.organizationId}/ai-credits/ledger`;

    const exported = await cli.run(['credits', 'ledger', '--csv'], env);
    expect(exported.code, exported.stderr).toBe(0);
    const api = await fetch(`${service.url}${ledgerPath}?format=csv`, {
      headers: { authorization: `Bearer ${tenant.keys.billing}` },
    });
    const apiBytes = Buffer.from(await api.arrayBuffer());
    expect(exported.bytes.equals(apiBytes)).toBe(true);
    expect(exported.stdout.split('\r\n').filter(Boolean).length).toBeGreaterThanOrEqual(4);

    // Filters go through as the API's own query.
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const filtered = await cli.run(
      ['credits', 'ledger', '--csv', '--category', 'purchases', '--from', from, '--to', to],
      env,
    );
    const apiFiltered = await fetch(
      `${service.url}${ledgerPath}?format=csv&category=purchases&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
      { headers: { authorization: `Bearer ${tenant.keys.billing}` } },
    );
    expect(filtered.bytes.equals(Buffer.from(await apiFiltered.arrayBuffer()))).toBe(true);

    const page = await cli.run(['credits', 'ledger', '--json', '--limit', '2'], env);
    const apiPage = await service.call('GET', `${ledgerPath}?limit=2`, { token: tenant.keys.billing });
    expect(json(page.stdout)).toEqual(apiPage.body);
    const table = await cli.run(['credits', 'ledger', '--limit', '2'], env);
    expect(table.stdout).toMatch(/^ID\s+CREATED\s+TYPE\s+AMOUNT USD/);
    expect(table.stderr).toMatch(/^More: --cursor led_/);

    const summary = await cli.run(['credits', 'summary', '--json'], env);
    expect(json(summary.stdout)).toMatchObject({ balanceUsd: 26.75 });

    const badFilter = await cli.run(['credits', 'ledger', '--csv', '--from', 'yesterday'], env);
    expect(badFilter.code).toBe(1);
    expect(badFilter.stderr).toMatch(/^error: validation_failed: query\.from/);
    expect(badFilter.stdout).toBe('');

    const viewer = await cli.run(['credits', 'ledger', '--csv'], {
      MCPSTACK_API_KEY: tenant.keys.viewer,
      MCPSTACK_ORG_ID: tenant.organizationId,
    });
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toContain('insufficient_permissions');
  });

  it('reconciles: exit 0 when the ledger adds up, 1 with the differences when it does not', async () => {
    const own = await service.createTenant();
    const env = { MCPSTACK_API_KEY: own.keys.admin, MCPSTACK_ORG_ID: own.organizationId };
    await service.call('POST', `/api/v1/organizations/${own.organizationId}/ai-credits/adjustments`, {
      token: own.keys.admin,
      body: { amountUsd: 10, reason: 'grant' },
    });
    const clean = await cli.run(['reconcile'], env);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/^ok\s+true$/m);

    const keys = service.deps.keys.organization(own.organizationId);
    await service.deps.redis.hincrby(keys.credits, 'balance', 5_000_000);
    const dirty = await cli.run(['reconcile'], env);
    expect(dirty.code).toBe(1);
    expect(dirty.stdout).toContain('[balance_mismatch]');
    expect(dirty.stderr).toBe(`error: reconcile: 1 difference(s) in ${own.organizationId}\n`);
    const dirtyJson = await cli.run(['reconcile', '--json'], env);
    expect(dirtyJson.code).toBe(1);
    expect(json(dirtyJson.stdout)).toMatchObject({ ok: false, balanceUsd: 15, ledgerSumUsd: 10 });
  });
});
