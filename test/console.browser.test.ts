import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { launchChromium } from '@mcpstack/test-support/browser';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reserve, settle } from '../services/chat/src/domain/budgets/meter.ts';
import { startTestDnsServer, type TestDnsServer } from '../services/chat/test/support/dns-server.ts';
import { startTestService, type Tenant, type TestService } from '../services/chat/test/support/harness.ts';
import { settledCall } from '../services/chat/test/support/llm-calls.ts';
import { type FakeStripe, startFakeStripe } from '../services/chat/test/support/stripe-server.ts';
import { artifact, browserTestsRun } from './support/browser.ts';

/**
 * The console in a real browser against the real service and Redis, the test DNS server and the
 * fake Stripe: every role signs in and walks its pages; a budget changes, a domain is confirmed,
 * credits are bought, and the CSV the page downloads is the API's, byte for byte.
 */

let service: TestService;
let stripe: FakeStripe;
let dns: TestDnsServer;
let browser: Browser;
let tenant: Tenant;
let agentId: string;

const orgPath = (rest: string) => `/api/v1/organizations/${tenant.organizationId}/${rest}`;

/** One metered LLM call of an identified user, through the real reserve and settle. */
async function spendAs(user: string, costMicros: number): Promise<void> {
  const model = service.deps.modelCatalog.get('gpt-4.1-mini');
  if (!model) throw new Error('no model');
  const context = {
    organizationId: tenant.organizationId,
    agentId,
    conversationId: `conv-${randomBytes(6).toString('hex')}`,
    owner: { kind: 'user' as const, id: user },
    model,
    resetDayOfMonthUtc: 1,
  };
  const reservation = await reserve(service.deps, context, costMicros);
  await settle(service.deps, context, reservation, settledCall(context, costMicros));
}

async function admin(method: string, path: string, body?: unknown) {
  const response = await service.call(method, orgPath(path), { token: tenant.keys.admin, body });
  expect(response.status, response.text).toBeLessThan(300);
  return response.body;
}

beforeAll(async () => {
  [stripe, dns] = await Promise.all([startFakeStripe(), startTestDnsServer()]);
  service = await startTestService({
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    STRIPE_API_BASE: stripe.url,
    MCPSTACK_DNS_SERVERS: dns.address,
    MCPSTACK_FREE_CREDITS_USD: '5',
  });
  if (browserTestsRun) browser = await launchChromium();
  tenant = await service.createTenant();
  agentId = (await admin('POST', 'agents', { name: 'Shop assistant', model: 'gpt-4.1-mini' })).id;
  await admin('PATCH', `agents/${agentId}/budget`, {
    enabled: true,
    monthlyBudgetUsd: 2,
    defaultUserBudgetUsd: 0.5,
  });
  for (const [user, micros] of [
    ['alice', 9000],
    ['bob', 3000],
    ['carol', 1200],
    ['alice', 4000],
  ] as const) {
    await spendAs(user, micros);
  }
  // Alice at 13/15 thousandths of her cap (near); Bob past his (over).
  await admin('PUT', `agents/${agentId}/external-users/alice/budget`, { monthlyBudgetUsd: 0.015 });
  await admin('PUT', `agents/${agentId}/external-users/bob/budget`, { monthlyBudgetUsd: 0.002 });
  await admin('POST', `agents/${agentId}/embed-keys`, {
    name: 'Shop site',
    allowedOrigins: ['https://shop.example.com'],
  });
  await admin('POST', `agents/${agentId}/verified-domains`, { domain: 'shop.example.com' });
});

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await stripe?.close();
  await dns?.stop();
});

interface Opened {
  page: Page;
  context: BrowserContext;
  problems: string[];
}

async function signedIn(key: string): Promise<Opened> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().includes('the server responded with a status of')) {
      problems.push(`console: ${message.text()}`);
    }
  });
  await page.goto(`${service.url}/console/`);
  await page.getByLabel('Service-account key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect
    .poll(() => page.locator('nav[aria-label="Console"]').isVisible(), { timeout: 15_000 })
    .toBe(true);
  return { page, context, problems };
}

/**
 * Waits until the page shows no loading state, and returns the error notices it shows. Only after a
 * page opens: after a change (a filter, a click) the new load starts a render later, so "no loading"
 * can still describe the old data; there a test polls for what the change must show.
 */
async function settledPage(page: Page): Promise<string[]> {
  await expect.poll(() => page.locator('.loading').count(), { timeout: 15_000 }).toBe(0);
  return page.locator('.error').allTextContents();
}

async function openPage(page: Page, title: string): Promise<void> {
  await page
    .getByRole('navigation', { name: 'Console' })
    .getByRole('link', { name: title, exact: true })
    .click();
  await expect.poll(() => page.locator('h1').textContent()).toBe(title);
  // Focus moves to the new page's heading, for keyboard and screen-reader users.
  await expect.poll(() => page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
}

const navigation = (page: Page) =>
  page.getByRole('navigation', { name: 'Console' }).getByRole('link').allTextContents();

const everyPage = [
  'Overview',
  'Credits and ledger',
  'Budgets',
  'Agents and embedding',
  'LLM calls',
  'API keys',
];
const pagesOf = {
  admin: everyPage,
  developer: everyPage.filter((title) => title !== 'API keys'),
  viewer: ['Overview', 'Budgets', 'Agents and embedding', 'LLM calls'],
  billing: ['Overview', 'Credits and ledger', 'LLM calls'],
} as const;

describe.runIf(browserTestsRun)('the console in Chromium', () => {
  for (const role of ['admin', 'developer', 'viewer', 'billing'] as const) {
    it(`signs in with the ${role} key, walks every page its role allows, and keeps no secret in browser storage`, async () => {
      const { page, context, problems } = await signedIn(tenant.keys[role]);
      expect(await navigation(page)).toEqual(pagesOf[role]);
      for (const title of pagesOf[role]) {
        await openPage(page, title);
        expect(await settledPage(page), `${role} on ${title}`).toEqual([]);
        if (role === 'admin') {
          const slug = title.toLowerCase().split(' ')[0];
          await page.screenshot({ path: artifact(`console-${slug}.png`), fullPage: true });
        }
      }

      const cookies = await context.cookies();
      const session = cookies.find((cookie) => cookie.name === 'mcpstack_console');
      expect(session).toBeDefined();
      expect(session?.httpOnly).toBe(true);
      expect(session?.sameSite).toBe('Strict');
      const stored = await page.evaluate(() =>
        JSON.stringify({
          local: { ...localStorage },
          session: { ...sessionStorage },
          cookie: document.cookie,
        }),
      );
      expect(stored).not.toContain(tenant.keys[role]);
      expect(stored).not.toContain(session!.value);
      expect(stored).not.toContain('mcpstack_sk_');
      expect(problems).toEqual([]);
      await context.close();
    });
  }

  it('shows a viewer the budgets without a way to change them, and a billing key no budgets at all', async () => {
    const viewer = await signedIn(tenant.keys.viewer);
    await openPage(viewer.page, 'Budgets');
    await settledPage(viewer.page);
    expect(await viewer.page.getByLabel('Agent monthly cap (USD)').isDisabled()).toBe(true);
    expect(await viewer.page.getByRole('button', { name: 'Save policy' }).count()).toBe(0);
    expect(await viewer.page.getByRole('button', { name: /Remove the override/ }).count()).toBe(0);
    await viewer.context.close();

    const billing = await signedIn(tenant.keys.billing);
    await billing.page.goto(`${service.url}/console/budgets`);
    await expect
      .poll(() => billing.page.locator('.error').textContent())
      .toContain('insufficient_permissions');
    await billing.context.close();
  });

  it('changes an agent budget and the per-user overrides, with users near or over their cap highlighted', async () => {
    const { page, context, problems } = await signedIn(tenant.keys.developer);
    await openPage(page, 'Budgets');
    await settledPage(page);
    const row = (user: string) =>
      page.locator('table.overrides tbody tr', {
        has: page.getByRole('rowheader', { name: user, exact: true }),
      });
    await expect.poll(() => row('alice').getAttribute('class')).toBe('status-near');
    expect(await row('bob').getAttribute('class')).toBe('status-over');

    const cap = page.getByLabel('Agent monthly cap (USD)');
    await cap.fill('75');
    await page.getByLabel('Reset day (1-28, UTC)').fill('15');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Saved.' }).count()).toBe(1);
    const budget = await admin('GET', `agents/${agentId}/budget`);
    expect(budget).toMatchObject({ enabled: true, monthlyBudgetUsd: 75, resetDayOfMonthUtc: 15 });

    // Add, search, change, remove: each one through the keyboard-reachable controls.
    await page.getByLabel('User id').fill('dave');
    await page.getByLabel('Monthly cap (USD)', { exact: true }).fill('1.5');
    await page.getByRole('button', { name: 'Add override' }).click();
    await expect.poll(() => row('dave').count()).toBe(1);
    await expect
      .poll(async () => (await admin('GET', `agents/${agentId}/external-users/dave/budget`)).monthlyBudgetUsd)
      .toBe(1.5);

    await page.getByLabel('Search users').fill('ALI');
    await expect.poll(() => page.locator('table.overrides tbody tr').count()).toBe(1);
    await page.getByRole('button', { name: 'Change the cap of alice' }).click();
    await page.getByLabel('New cap for alice (USD)').fill('3');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => row('alice').getAttribute('class')).toBe('status-ok');
    // The row's class may already read ok before the save lands: wait for the API to say so.
    await expect
      .poll(
        async () => (await admin('GET', `agents/${agentId}/external-users/alice/budget`)).monthlyBudgetUsd,
      )
      .toBe(3);

    await page.getByLabel('Search users').fill('');
    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: 'Remove the override of bob' }).click();
    await expect.poll(() => row('bob').count()).toBe(0);
    await expect
      .poll(async () => (await admin('GET', `agents/${agentId}/external-users/bob/budget`)).source)
      .toBe('default');

    // What only the API can refuse (caps enforced without an agent cap) shows its code and message.
    await cap.fill('');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await expect.poll(() => page.locator('.error').first().textContent()).toContain('validation_failed');
    expect(await page.locator('.error').first().textContent()).toContain(
      'monthlyBudgetUsd: is required when the budget is enabled',
    );
    expect(problems).toEqual([]);
    await context.close();
  });

  it('confirms a domain against the test DNS server, showing what DNS answered when it does not match', async () => {
    const { page, context } = await signedIn(tenant.keys.admin);
    await openPage(page, 'Agents and embedding');
    await settledPage(page);
    const record = {
      name: await page.locator('.dns dd code').nth(0).textContent(),
      value: await page.locator('.dns dd code').nth(1).textContent(),
    };
    expect(record.name).toBe('_mcpstack-verify.shop.example.com');
    await expect
      .poll(() =>
        page.getByRole('button', { name: 'Copy the TXT record value of shop.example.com' }).isVisible(),
      )
      .toBe(true);
    expect(await page.locator('pre.snippet').textContent()).toMatch(
      new RegExp(
        `^<script src="${service.url}/agent-sdk.js" data-public-key="mcpstack_pk_[0-9a-f]{32}" async></script>$`,
      ),
    );

    dns.records.set(record.name!, [['mcpstack-verify=somebody-else']]);
    await page.getByRole('button', { name: 'Confirm shop.example.com' }).click();
    await expect
      .poll(() => page.locator('.domain .error').textContent())
      .toContain('domain_verification_failed');
    expect(await page.locator('.domain .error').textContent()).toContain(
      'DNS answered: mcpstack-verify=somebody-else',
    );

    dns.records.set(record.name!, [[record.value!]]);
    await page.getByRole('button', { name: 'Confirm shop.example.com' }).click();
    await expect.poll(() => page.locator('.domain .badge').textContent()).toBe('verified');
    const domains = await admin('GET', `agents/${agentId}/verified-domains`);
    expect(domains.data[0].status).toBe('verified');
    await page.screenshot({ path: artifact('console-agents-verified.png'), fullPage: true });
    await context.close();
  });

  it('buys credits through Stripe Checkout and shows the purchase, then finds it in the ledger', async () => {
    const { page, context, problems } = await signedIn(tenant.keys.billing);
    // Stripe's hosted page, played by the test: the buyer pays, Stripe redirects to success_url.
    await context.route('https://checkout.stripe.com/**', async (route) => {
      const sessionId = new URL(route.request().url()).pathname.split('/').at(-1)!;
      const session = stripe.pay(sessionId);
      await route.fulfill({
        status: 303,
        headers: { location: session.success_url!.replace('{CHECKOUT_SESSION_ID}', sessionId) },
      });
    });
    await openPage(page, 'Credits and ledger');
    await settledPage(page);
    await page.getByLabel('Amount (USD)').fill('25');
    await page.getByRole('button', { name: 'Buy credits' }).click();
    await expect
      .poll(() => page.url(), { timeout: 15_000 })
      .toContain('/console/credits/return?session_id=cs_');
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'of credits added' }).textContent(), {
        timeout: 15_000,
      })
      .toContain('$25.00 of credits added');
    await page.screenshot({ path: artifact('console-credits-return.png'), fullPage: true });

    await page.getByRole('link', { name: 'Back to credits and the ledger' }).click();
    await settledPage(page);
    const first = page.locator('table.ledger tbody tr').first();
    await expect.poll(() => first.locator('.tag').textContent()).toBe('purchase');
    expect(await first.locator('td.number').first().textContent()).toBe('$25.00');
    await expect.poll(() => page.locator('.tone-ok', { hasText: 'Balanced' }).count()).toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('filters the ledger, pages it on the server, and downloads exactly the filtered CSV the API gives', async () => {
    const { page, context } = await signedIn(tenant.keys.billing);
    await openPage(page, 'Credits and ledger');
    await settledPage(page);
    await page.getByLabel('Category').selectOption('usage');
    await expect
      .poll(() => page.locator('table.ledger tbody tr .tag').allTextContents())
      .toEqual(['usage', 'usage', 'usage', 'usage']);
    await page.getByLabel('Agent', { exact: true }).selectOption(agentId);
    const today = new Date().toISOString().slice(0, 10);
    await page.getByLabel('From (UTC day)').fill(today);
    await page.getByLabel('To (UTC day, included)').fill(today);
    const tomorrow = new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString();
    const filter = new URLSearchParams({
      category: 'usage',
      agentId,
      from: `${today}T00:00:00Z`,
      to: tomorrow,
    });
    // The download link carries every filter once the page has taken them all in.
    await expect
      .poll(() => page.getByRole('link', { name: 'Download CSV' }).getAttribute('href'))
      .toContain(`?${filter}&format=csv`);
    await settledPage(page);
    await expect.poll(() => page.locator('table.ledger tbody tr').count()).toBe(4);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download CSV' }).click(),
    ]);
    const downloaded = readFileSync((await download.path())!);
    const fromApi = await fetch(`${service.url}${orgPath(`ai-credits/ledger?${filter}&format=csv`)}`, {
      headers: { authorization: `Bearer ${tenant.keys.billing}` },
    });
    expect(fromApi.status).toBe(200);
    // Byte for byte (with the API's UTF-8 byte-order mark, which a text decode would drop).
    expect(downloaded.equals(Buffer.from(await fromApi.arrayBuffer()))).toBe(true);
    expect(download.suggestedFilename()).toMatch(/^ai-credits-ledger-org_.+\.csv$/);
    expect(downloaded.toString('utf8').trim().split('\n')).toHaveLength(5);

    // Server-side pages: the unfiltered ledger in pages of 50 (seeded past one page).
    for (let index = 0; index < 50; index++) await spendAs(`pager-${index % 5}`, 10);
    await page.getByLabel('Category').selectOption('');
    await page.getByLabel('Agent', { exact: true }).selectOption('');
    await page.getByLabel('From (UTC day)').fill('');
    await page.getByLabel('To (UTC day, included)').fill('');
    await expect.poll(() => page.locator('table.ledger tbody tr').count()).toBe(50);
    await settledPage(page);
    const entryIds = () =>
      page
        .locator('table.ledger tbody tr')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-entry-id')));
    const newest = (await entryIds())[0];
    expect(newest).toBeTruthy();
    await page.getByRole('button', { name: 'Older' }).click();
    await expect.poll(() => page.locator('nav[aria-label="Ledger pages"] span').textContent()).toBe('Page 2');
    // The second page is there: rows, and not the first page's newest.
    await expect
      .poll(async () => {
        const ids = await entryIds();
        return ids.length > 0 && !ids.includes(newest ?? null);
      })
      .toBe(true);
    await context.close();
  }, 90_000);

  it('creates an API key whose secret shows once, and revokes it', async () => {
    const { page, context } = await signedIn(tenant.keys.admin);
    await openPage(page, 'API keys');
    await settledPage(page);
    await page.getByLabel('Key name').fill('finance-export');
    await page.getByLabel('Role').selectOption('billing');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = page.locator('[data-secret]');
    await expect.poll(() => secret.textContent()).toMatch(/^mcpstack_sk_[0-9a-f]{8}_[0-9a-f]{32}$/);
    const fullKey = (await secret.textContent())!;
    expect(await page.getByRole('button', { name: 'Copy the new key' }).isVisible()).toBe(true);
    await page.screenshot({ path: artifact('console-api-keys-created.png'), fullPage: true });
    // Never in browser storage, and gone once dismissed.
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }))).not.toContain(
      fullKey,
    );
    await page.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => page.locator('[data-secret]').count()).toBe(0);
    expect(await page.content()).not.toContain(fullKey);

    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: 'Revoke finance-export' }).click();
    await expect.poll(() => page.getByRole('rowheader', { name: 'finance-export' }).count()).toBe(0);
    const revoked = await service.call('GET', orgPath('ai-credits/summary'), { token: fullKey });
    expect(revoked.status).toBe(401);
    await context.close();
  });

  it('signs in with one click from a #key link, removes the key from the address bar, and signs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${service.url}/console/#key=${tenant.keys.admin}`);
    await expect
      .poll(() => page.locator('nav[aria-label="Console"]').isVisible(), { timeout: 15_000 })
      .toBe(true);
    await expect.poll(() => page.url()).toBe(`${service.url}/console/`);
    expect(await page.evaluate(() => location.hash)).toBe('');
    const cookie = (await context.cookies()).find((entry) => entry.name === 'mcpstack_console')!;

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => page.getByLabel('Service-account key').isVisible()).toBe(true);
    expect((await context.cookies()).some((entry) => entry.name === 'mcpstack_console')).toBe(false);
    const after = await service.call('GET', orgPath('agents'), {
      token: null,
      headers: { cookie: `mcpstack_console=${cookie.value}` },
    });
    expect(after.status).toBe(401);

    // A wrong key shows the API's code and message.
    await page
      .getByLabel('Service-account key')
      .fill('mcpstack_sk_00000000_00000000000000000000000000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('.error').textContent()).toContain('invalid_api_key');
    await context.close();
  });
});
