import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { actingAs, createEmbedKey } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adjustCredits } from '../src/domain/credits/adjustments.ts';
import { ledgerCsvColumns } from '../src/domain/credits/ledger-csv.ts';
import { newId } from '../src/ids.ts';
import { runReconcile } from '../src/reconcile-command.ts';
import {
  type CreditWorld,
  createMeteredAgent,
  creditsPath,
  deliver,
  expectConsistent,
  ledgerEntries,
  spend,
  startCheckout,
  startCreditWorld,
} from './support/credits.ts';
import { adminToken, type Tenant } from './support/harness.ts';

const run = promisify(execFile);
const repositoryRoot = fileURLToPath(new URL('../../..', import.meta.url));
const origin = 'https://shop.example';

let model: LocalModel;
let world: CreditWorld;

beforeAll(async () => {
  model = await startLocalModel();
  world = await startCreditWorld({ OPENAI_BASE_URL: model.url, MCPSTACK_LOW_BALANCE_USD: '1' });
});
afterAll(async () => {
  await world?.stop();
  await model?.close();
});

const usd = (amount: number) => Math.round(amount * 1_000_000);

async function buy(tenant: Tenant, amountUsd: number) {
  const sessionId = await startCheckout(world, tenant, amountUsd);
  const result = await deliver(world, 'checkout.session.completed', world.stripe.pay(sessionId));
  expect(result.body.outcome).toBe('credited');
  return sessionId;
}

async function adjust(tenant: Tenant, amountUsd: number, reason: string) {
  const response = await world.service.call('POST', creditsPath(tenant, 'adjustments'), {
    token: tenant.keys.admin,
    body: { amountUsd, reason },
  });
  expect(response.status, response.text).toBe(201);
  return response.body;
}

async function ledger(tenant: Tenant, query = '', token = tenant.keys.billing) {
  await world.service.drain();
  const response = await world.service.call('GET', `${creditsPath(tenant, 'ledger')}${query}`, { token });
  expect(response.status, response.text).toBe(200);
  return response.body as {
    data: {
      id: string;
      type: string;
      amountUsd: number;
      createdAt: string;
      reference: Record<string, string | null>;
    }[];
    nextCursor: string | null;
  };
}

/** RFC 4180, the way a spreadsheet reads it: quoted cells may hold commas, quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        cell += '"';
        index++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\r' && text[index + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      index++;
    } else cell += char;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

describe('the summary', () => {
  it('adds up purchases, grants, refunds, adjustments and usage, this month and all time', async () => {
    const tenant = await world.service.createTenant();
    const agentId = await createMeteredAgent(world.service, tenant);
    await adjustCredits(world.service.deps, tenant.organizationId, {
      type: 'grant',
      amountMicros: usd(3),
      actor: 'system',
      reason: 'Welcome credits',
    });
    const sessionId = await buy(tenant, 20);
    expect(await spend(world.service, tenant, agentId, usd(0.5))).toBe(true);
    expect(await spend(world.service, tenant, agentId, usd(0.25))).toBe(true);
    const lastMonth = new Date();
    lastMonth.setUTCDate(1);
    lastMonth.setUTCMonth(lastMonth.getUTCMonth() - 1);
    expect(await spend(world.service, tenant, agentId, usd(1), { at: lastMonth })).toBe(true);
    await deliver(world, 'charge.refunded', world.stripe.refund(sessionId, 500));
    await adjust(tenant, -1, 'Correction');
    await adjust(tenant, 2, 'Goodwill');

    const summary = await world.service.call('GET', creditsPath(tenant, 'summary'), {
      token: tenant.keys.developer,
    });
    expect(summary.status).toBe(200);
    expect(summary.body).toEqual({
      currency: 'USD',
      balanceUsd: 17.25,
      reservedUsd: 0,
      availableUsd: 17.25,
      purchasedUsd: 20,
      grantedUsd: 3,
      refundedUsd: 5,
      adjustedUsd: 1,
      spentUsd: 1.75,
      spentThisMonthUsd: 0.75,
      month: new Date().toISOString().slice(0, 7),
      lowBalance: false,
      lowBalanceThresholdUsd: 1,
    });
    await expectConsistent(world.service, tenant);
  });
});

describe('the ledger', () => {
  it('pages newest first and filters by category, type, agent and time range', async () => {
    const tenant = await world.service.createTenant();
    const [alpha, beta] = [
      await createMeteredAgent(world.service, tenant),
      await createMeteredAgent(world.service, tenant),
    ];
    await buy(tenant, 10);
    // The time filters work to the millisecond: `middle` must fall after the purchase and before the
    // spends. Poll the clock past each rather than sleep and hope it moved.
    const purchase = (await ledger(tenant)).data.find((entry) => entry.type === 'purchase');
    await expect
      .poll(() => Date.now(), { timeout: 10_000, interval: 1 })
      .toBeGreaterThan(Date.parse(purchase!.createdAt));
    const middle = new Date();
    await expect.poll(() => Date.now(), { timeout: 10_000, interval: 1 }).toBeGreaterThan(middle.getTime());
    for (const [agentId, cost] of [
      [alpha, 0.1],
      [beta, 0.2],
      [alpha, 0.3],
      [beta, 0.4],
      [alpha, 0.5],
    ] as const) {
      expect(await spend(world.service, tenant, agentId, usd(cost))).toBe(true);
    }
    await adjust(tenant, 1, 'Goodwill');

    const everything: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await ledger(tenant, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.data.length).toBeLessThanOrEqual(2);
      everything.push(...page.data.map((entry) => entry.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(everything).toHaveLength(7);
    expect(pages).toBe(4);
    expect(everything).toEqual([...everything].sort().reverse());
    const all = await ledger(tenant, '?limit=500');
    expect(all.nextCursor).toBeNull();
    expect(all.data.map((entry) => entry.id)).toEqual(everything);
    expect(all.data[0]).toMatchObject({ type: 'adjustment', amountUsd: 1 });

    const usage = await ledger(tenant, '?category=usage');
    expect(usage.data.map((entry) => entry.amountUsd)).toEqual([-0.5, -0.4, -0.3, -0.2, -0.1]);
    expect(usage.data[0]).toMatchObject({
      type: 'usage',
      reference: {
        agentId: alpha,
        conversationId: expect.any(String),
        callId: expect.stringMatching(/^call_/),
      },
      actor: expect.stringMatching(/^visitor:/),
    });
    const purchases = await ledger(tenant, '?category=purchases');
    expect(purchases.data.map((entry) => entry.type)).toEqual(['adjustment', 'purchase']);
    expect((await ledger(tenant, '?type=purchase')).data.map((entry) => entry.type)).toEqual(['purchase']);
    expect((await ledger(tenant, '?type=purchase,adjustment')).data).toHaveLength(2);
    expect((await ledger(tenant, '?category=usage&type=purchase')).data).toEqual([]);
    expect((await ledger(tenant, `?agentId=${alpha}`)).data.map((entry) => entry.amountUsd)).toEqual([
      -0.5, -0.3, -0.1,
    ]);
    expect((await ledger(tenant, `?agentId=${beta}&limit=1`)).nextCursor).not.toBeNull();

    const at = encodeURIComponent(middle.toISOString());
    expect((await ledger(tenant, `?to=${at}`)).data.map((entry) => entry.type)).toEqual(['purchase']);
    expect((await ledger(tenant, `?from=${at}`)).data).toHaveLength(6);
    expect((await ledger(tenant, `?from=${at}&category=usage&limit=3`)).data).toHaveLength(3);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect((await ledger(tenant, `?from=${tomorrow}`)).data).toEqual([]);
    expect((await ledger(tenant, `?to=${tomorrow}`)).data).toHaveLength(7);

    for (const bad of [
      '?type=bogus',
      '?category=refunds',
      '?limit=501',
      '?cursor=nope',
      '?from=yesterday',
      '?surprise=1',
    ]) {
      await world.service.drain();
      const response = await world.service.call('GET', `${creditsPath(tenant, 'ledger')}${bad}`, {
        token: tenant.keys.billing,
      });
      expect(response.status, bad).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
    }
    await expectConsistent(world.service, tenant);
  });

  it('exports a CSV a spreadsheet opens as is: header, quoting, and no formulas', async () => {
    const tenant = await world.service.createTenant();
    const agentId = await createMeteredAgent(world.service, tenant);
    await buy(tenant, 10);
    expect(await spend(world.service, tenant, agentId, 1234)).toBe(true);
    const reasons = [
      '=HYPERLINK("https://evil.example","click")',
      '@SUM(A1:A9)',
      '+1+cmd|calc',
      '-2+3',
      'Refund, "goodwill"\nsecond line',
      'Crédit offert 🎁',
    ];
    for (const reason of reasons) await adjust(tenant, 0.01, reason);

    await world.service.drain();
    const response = await world.service.call('GET', creditsPath(tenant, 'ledger'), {
      token: tenant.keys.billing,
      headers: { accept: 'text/csv' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const day = new Date().toISOString().slice(0, 10);
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="ai-credits-ledger-${tenant.organizationId}-${day}.csv"`,
    );
    const bytes = new Uint8Array(
      await (
        await fetch(`${world.service.url}${creditsPath(tenant, 'ledger')}?format=csv`, {
          headers: { authorization: `Bearer ${tenant.keys.billing}` },
        })
      ).arrayBuffer(),
    );
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(response.text.startsWith('\uFEFF')).toBe(false); // fetch's text() drops the BOM it decodes
    expect(response.text.endsWith('\r\n')).toBe(true);

    const rows = parseCsv(response.text);
    expect(rows[0]).toEqual([...ledgerCsvColumns]);
    expect(rows).toHaveLength(1 + 8);
    for (const row of rows) expect(row).toHaveLength(ledgerCsvColumns.length);
    const byReason = new Map(rows.slice(1).map((row) => [row[12], row]));
    expect(byReason.get(`'=HYPERLINK("https://evil.example","click")`)).toBeDefined();
    expect(byReason.get("'@SUM(A1:A9)")).toBeDefined();
    expect(byReason.get("'+1+cmd|calc")).toBeDefined();
    expect(byReason.get("'-2+3")).toBeDefined();
    expect(byReason.get('Refund, "goodwill"\nsecond line')).toBeDefined();
    expect(byReason.get('Crédit offert 🎁')).toBeDefined();
    // No cell but the guarded ones starts with a formula character, except plain (negative) numbers.
    for (const row of rows.slice(1)) {
      for (const cell of row) {
        if (/^[=+\-@]/.test(cell)) expect(cell, cell).toMatch(/^-?\d+\.\d{6}$/);
      }
    }
    const usage = rows.find((row) => row[2] === 'usage')!;
    expect(usage.slice(2, 7)).toEqual(['usage', '-0.001234', '9.998766', 'USD', agentId]);
    const purchase = rows.find((row) => row[2] === 'purchase')!;
    expect(purchase[3]).toBe('10.000000');
    expect(purchase[9]).toMatch(/^cs_test_/);
    // The raw text quotes exactly the cells that need it.
    expect(response.text).toContain(`"'=HYPERLINK(""https://evil.example"",""click"")"`);
    expect(response.text).toContain('"Refund, ""goodwill""\nsecond line"');

    await world.service.drain();
    const usageOnly = await world.service.call(
      'GET',
      `${creditsPath(tenant, 'ledger')}?format=csv&category=usage`,
      {
        token: tenant.keys.billing,
      },
    );
    expect(
      parseCsv(usageOnly.text)
        .slice(1)
        .map((row) => row[2]),
    ).toEqual(['usage']);
    await world.service.drain();
    const json = await world.service.call('GET', `${creditsPath(tenant, 'ledger')}?format=json`, {
      token: tenant.keys.billing,
      headers: { accept: 'text/csv' },
    });
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.body.data).toHaveLength(8);
    await expectConsistent(world.service, tenant);
  });
});

describe('low balance', () => {
  it('marks chat answers while the balance is below the threshold, and the summary too', async () => {
    const tenant = await world.service.createTenant();
    await adjust(tenant, 0.5, 'Trial');
    const agentId = await createMeteredAgent(world.service, tenant);
    const publicKey = await createEmbedKey(world.service.call, actingAs(tenant, 'admin'), agentId, {
      allowedOrigins: [origin],
    });
    const chat = async () => {
      const response = await fetch(`${world.service.url}/api/v1/chat`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${publicKey}`,
          origin,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          id: `conv-${randomBytes(6).toString('hex')}`,
          messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hello' }] }],
          visitorId: `visitor-${randomBytes(4).toString('hex')}`,
        }),
      });
      await response.text();
      return response;
    };
    const low = await chat();
    expect(low.status).toBe(200);
    expect(low.headers.get('x-mcpstack-credits-low')).toBe('true');
    expect(low.headers.get('access-control-expose-headers')).toContain('x-mcpstack-credits-low');
    const summary = await world.service.call('GET', creditsPath(tenant, 'summary'), {
      token: tenant.keys.billing,
    });
    expect(summary.body).toMatchObject({ lowBalance: true, lowBalanceThresholdUsd: 1 });

    await buy(tenant, 10);
    const fine = await chat();
    expect(fine.status).toBe(200);
    expect(fine.headers.get('x-mcpstack-credits-low')).toBeNull();
    expect(
      (await world.service.call('GET', creditsPath(tenant, 'summary'), { token: tenant.keys.billing })).body
        .lowBalance,
    ).toBe(false);
    await expectConsistent(world.service, tenant);
  });
});

// Each test spawns node (and npm) processes: seconds each on a loaded 2-core machine, so the
// ceiling is generous; nothing here waits on a fixed time.
describe('the reconcile command', { timeout: 180_000 }, () => {
  const env = () => ({
    PATH: process.env.PATH ?? '',
    REDIS_URL: world.service.deps.env.REDIS_URL,
    MCPSTACK_REDIS_PREFIX: world.service.deps.env.MCPSTACK_REDIS_PREFIX,
    MCPSTACK_ADMIN_TOKEN: adminToken,
    MCPSTACK_SECRET_KEY: 'test-secret-key-0123456789abcdef0123456789abcdef',
    STRIPE_SECRET_KEY: world.stripe.secretKey,
    STRIPE_API_BASE: world.stripe.url,
    MCPSTACK_DATA_DIR: 'memory://',
  });
  /** The command as `npm run reconcile` runs it, on the test's own world (its database included). */
  const reconcile = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await runReconcile(world.service.deps, args, {
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
    });
    return { code, stdout, stderr };
  };

  it('agrees with a clean ledger, and prints the differences of a tampered one (exit 1)', async () => {
    const tenant = await world.service.createTenant();
    const agentId = await createMeteredAgent(world.service, tenant);
    const sessionId = await buy(tenant, 30);
    expect(await spend(world.service, tenant, agentId, usd(2))).toBe(true);
    await deliver(world, 'charge.refunded', world.stripe.refund(sessionId, 1000));
    await expectConsistent(world.service, tenant);

    expect((await reconcile('--org', tenant.organizationId)).stdout).toContain(
      `OK  ${tenant.organizationId}: balance 18 USD, ledger sum 18 USD, 3 entries`,
    );

    const clean = await reconcile('--org', tenant.organizationId, '--json');
    expect(clean.code, clean.stderr).toBe(0);
    expect(JSON.parse(clean.stdout)).toEqual([
      expect.objectContaining({ ok: true, balanceUsd: 18, differences: [] }),
    ]);

    // Tamper: money out of thin air, and a second purchase entry for the same session.
    const keys = world.service.deps.keys.organization(tenant.organizationId);
    const [purchase] = (await ledgerEntries(world.service, tenant)).filter(
      (entry) => entry.type === 'purchase',
    );
    const forged = { ...purchase!, id: newId('ledgerEntry') };
    await world.service.deps.redis.hincrby(keys.credits, 'balance', usd(5));
    await world.service.deps.history.write({
      ledger: [{ ...forged, position: { milliseconds: 1, sequence: 0 } }],
      calls: [],
      stripeEvents: [],
    });
    // And a paid session whose webhook never came.
    const missed = await startCheckout(world, tenant, 7);
    world.stripe.pay(missed);

    const dirty = await reconcile('--org', tenant.organizationId);
    expect(dirty.code).toBe(1);
    expect(dirty.stdout).toContain(`FAIL ${tenant.organizationId}`);
    expect(dirty.stdout).toContain(
      '[balance_mismatch] The balance is 23 USD but the ledger entries add up to 48 USD',
    );
    expect(dirty.stdout).toContain(
      '[total_mismatch] The purchased total is 30 USD but the purchase entries add up to 60 USD',
    );
    expect(dirty.stdout).toContain(
      `[duplicate_purchase] Checkout Session ${sessionId} has 2 purchase entries`,
    );
    expect(dirty.stdout).toContain(
      `[paid_session_not_credited] Checkout Session ${missed} is paid in Stripe but not credited`,
    );
    const endpoint = await world.service.call('POST', creditsPath(tenant, 'reconcile'), {
      token: tenant.keys.admin,
    });
    expect(endpoint.body.ok).toBe(false);
    expect(endpoint.body.differences.map((difference: { kind: string }) => difference.kind).sort()).toEqual([
      'balance_mismatch',
      'duplicate_purchase',
      'paid_session_not_credited',
      'total_mismatch',
    ]);

    // Undo the tampering and sync the missed session: clean again.
    await world.service.deps.redis.hincrby(keys.credits, 'balance', -usd(5));
    await world.service.deps.history.database.query('DELETE FROM ledger_entries WHERE id = $1', [forged.id]);
    await world.service.call('POST', creditsPath(tenant, `checkout-session/${missed}/sync`), {
      token: tenant.keys.billing,
    });
    expect((await reconcile('--org', tenant.organizationId)).code).toBe(0);
    await expectConsistent(world.service, tenant);
  });

  it('refuses an unknown option through npm (exit 2), and fails for an unknown organization', async () => {
    const usage = await run('npm', ['run', '--silent', 'reconcile', '--', '--bogus'], {
      cwd: repositoryRoot,
      env: env(),
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("Unknown option '--bogus'");
    const unknown = await reconcile('--org', 'org_doesnotexist');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No organization org_doesnotexist');
  });
});
