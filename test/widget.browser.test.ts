import { readFileSync } from 'node:fs';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { launchChromium } from '@mcpstack/test-support/browser';
import { outputPricedModel } from '@mcpstack/test-support/models';
import {
  actingAs,
  createChatAgent,
  createIdentitySecret,
  createMcpServer,
  setAgentBudget,
} from '@mcpstack/test-support/tenants';
import { SignJWT } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type Tenant, type TestService } from '../services/chat/test/support/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../services/chat/test/support/mcp-server.ts';
import { artifact, browserTestsRun } from './support/browser.ts';
import { type PageServer, shopPage, startPageServer } from './support/page-server.ts';
import { buildReactApp } from './support/react-page.ts';

/**
 * The widget in a real browser (Debian's Chromium through playwright-core) against the real
 * service, real Redis, the local model and a real MCP server. Pages come from a node:http server
 * on another origin, which is what the embed key allows.
 */

let model: LocalModel;
let mcp: TestMcpServer;
let service: TestService;
let site: PageServer;
let otherSite: PageServer;
let browser: Browser;
let tenant: Tenant;
let publicKey: string;

const agentsPath = () => `/api/v1/organizations/${tenant.organizationId}/agents`;

const createAgent = (name: string, allowedOrigins: string[], extra: Record<string, unknown> = {}) =>
  createChatAgent(service.call, actingAs(tenant, 'admin'), {
    agent: { name, model: 'gpt-4.1-mini', ...extra },
    embedKey: { name: `${name} key`, allowedOrigins },
  });

beforeAll(async () => {
  // A small delay per streamed piece, so a browser can watch the answer grow.
  model = await startLocalModel({ chunkDelayMs: 25 });
  mcp = await startTestMcpServer();
  service = await startTestService({ OPENAI_BASE_URL: model.url });
  [site, otherSite] = await Promise.all([startPageServer(), startPageServer()]);
  if (browserTestsRun) browser = await launchChromium();
  tenant = await service.createTenant();
  const serverId = await createMcpServer(service.call, actingAs(tenant, 'admin'), {
    name: 'Shop',
    slug: 'shop',
    url: mcp.url,
  });
  ({ publicKey } = await createAgent('Shop assistant', [site.origin], {
    instructions: 'Help shoppers with their orders.',
    mcpServerIds: [serverId],
    welcomeMessage: 'Hi! Ask me about **your order**.',
    starterPrompts: ['Where is my order?'],
    theme: { primaryColor: '#0f766e' },
  }));
});

afterAll(async () => {
  await browser?.close();
  await site?.stop();
  await otherSite?.stop();
  await service?.stop();
  await mcp?.stop();
  await model?.close();
});

const scriptUrl = () => `${service.url}/agent-sdk.js`;

async function openPage(
  path: string,
  options: { context?: BrowserContext; width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {},
) {
  const context =
    options.context ??
    (await browser.newContext({
      viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
      colorScheme: options.colorScheme ?? 'light',
    }));
  const page = await context.newPage();
  const console: string[] = [];
  page.on('console', (message) => console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => console.push(`pageerror: ${error.message}`));
  await page.goto(`${site.origin}${path}`);
  return { page, context, console };
}

/** Widget elements (Playwright's CSS selectors pierce open shadow roots). */
const widget = {
  launcher: (page: Page) => page.locator('mcpstack-agent .launcher'),
  panel: (page: Page) => page.locator('mcpstack-agent .panel'),
  input: (page: Page) => page.locator('mcpstack-agent textarea'),
  answers: (page: Page) => page.locator('mcpstack-agent .msg.assistant'),
  alert: (page: Page) => page.locator('mcpstack-agent .alert'),
};

/** What the shadow root's focused element is (document.activeElement stops at the host). */
const focused = (page: Page) =>
  page.evaluate(() => {
    const root = document.querySelector('mcpstack-agent')?.shadowRoot;
    const element = root?.activeElement;
    return element
      ? `${element.tagName.toLowerCase()}.${element.className}`
      : `outside:${document.activeElement?.tagName}`;
  });

/** Waits until no answer is in flight (the send button is back from "Stop"). */
async function settled(page: Page): Promise<void> {
  await expect
    .poll(() => page.locator('mcpstack-agent .send').getAttribute('aria-label'), { timeout: 15_000 })
    .toBe('Send message');
}

async function lastAnswerText(page: Page): Promise<string> {
  return (await widget.answers(page).last().textContent()) ?? '';
}

describe.runIf(browserTestsRun)('the widget in Chromium', () => {
  it('embeds by tag; a visitor opens it, watches an answer stream, sees a tool call, and finds it all after a reload', async () => {
    site.set('/', { body: shopPage({ scriptUrl: scriptUrl(), publicKey }) });
    const { page, context, console } = await openPage('/');
    await expect.poll(() => widget.launcher(page).isVisible()).toBe(true);
    expect(await widget.panel(page).isVisible()).toBe(false);
    await page.screenshot({ path: artifact('widget-closed.png') });

    await widget.launcher(page).click();
    await expect.poll(() => widget.panel(page).isVisible()).toBe(true);
    await expect.poll(() => page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
    expect(await page.locator('mcpstack-agent .msg.assistant strong').textContent()).toBe('your order');
    expect(await page.locator('mcpstack-agent .prompts button').textContent()).toBe('Where is my order?');
    await page.screenshot({ path: artifact('widget-open.png') });

    // Streaming: the answer's text grows in the page, piece by piece.
    await widget.input(page).fill('Hello there, could you tell me what you can do for me today?');
    await widget.input(page).press('Enter');
    await expect.poll(() => page.locator('mcpstack-agent .msg.user').count()).toBe(1);
    const lengths: number[] = [];
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const count = await widget.answers(page).count();
      const text = count > 1 ? await lastAnswerText(page) : '';
      if (lengths.at(-1) !== text.length) lengths.push(text.length);
      if (text.includes('same reply.')) break;
      await page.waitForTimeout(15);
    }
    expect(await lastAnswerText(page)).toContain('You said: "Hello there');
    expect(
      lengths.filter((length) => length > 0).length,
      `lengths seen: ${lengths.join(',')}`,
    ).toBeGreaterThan(4);
    await settled(page);

    // A tool call: shown by its display name while it runs and when it is done.
    await page.evaluate(() => {
      const root = document.querySelector('mcpstack-agent')?.shadowRoot as ShadowRoot;
      const seen: string[] = [];
      (window as unknown as { toolStates: string[] }).toolStates = seen;
      new MutationObserver(() => {
        for (const tool of root.querySelectorAll('.tool')) {
          const entry = `${tool.getAttribute('data-state')}:${tool.textContent}`;
          if (seen.at(-1) !== entry) seen.push(entry);
        }
      }).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    await widget.input(page).fill('What is the status of order A-1001?');
    await widget.input(page).press('Enter');
    await expect.poll(() => lastAnswerText(page), { timeout: 15_000 }).toContain('Order A-1001: shipped');
    const states = await page.evaluate(() => (window as unknown as { toolStates: string[] }).toolStates);
    expect(states[0]).toBe('running:Get order…');
    expect(states.at(-1)).toBe('done:Get order');
    expect(await page.locator('mcpstack-agent .tool').count()).toBe(1);
    // The service's conversation id is kept for the next visit.
    const saved = await page.evaluate((key) => localStorage.getItem(`mcpstack:${key}`), publicKey);
    expect(JSON.parse(saved ?? '{}')).toMatchObject({
      visitorId: expect.any(String),
      conversationId: expect.any(String),
    });

    // Once the answer has finished (a reload in the middle of one re-attaches to it: the service's side).
    await settled(page);
    await page.reload();
    await widget.launcher(page).click();
    await expect
      .poll(() => page.locator('mcpstack-agent .msg.user').allTextContents())
      .toEqual([
        'Hello there, could you tell me what you can do for me today?',
        'What is the status of order A-1001?',
      ]);
    expect(await page.locator('mcpstack-agent .tool[data-state="done"]').textContent()).toBe('Get order');
    expect(await lastAnswerText(page)).toContain('Order A-1001: shipped');
    expect(console.filter((line) => line.startsWith('error') || line.startsWith('pageerror'))).toEqual([]);
    await context.close();
  });

  it('re-attaches to the answer in progress after a reload, and the model is called once', async () => {
    const { agentId, publicKey: storyKey } = await createAgent('Storyteller', [site.origin], {
      maxOutputTokens: 240,
    });
    site.set('/story.html', { body: shopPage({ scriptUrl: scriptUrl(), publicKey: storyKey }) });
    const { page, context, console } = await openPage('/story.html');
    await widget.launcher(page).click();
    await expect.poll(() => widget.panel(page).isVisible()).toBe(true);
    const before = model.requests.length;
    await widget.input(page).fill('[long] Tell me a long story, please.');
    await widget.input(page).press('Enter');
    // Part of the answer (240 pieces, 25 ms apart) is on the page: reload in its middle.
    await expect
      .poll(async () => ((await widget.answers(page).count()) > 0 ? (await lastAnswerText(page)).length : 0))
      .toBeGreaterThan(20);
    const partial = await lastAnswerText(page);
    await page.reload();
    await widget.launcher(page).click();
    await expect
      .poll(() => page.locator('mcpstack-agent .msg.user').allTextContents())
      .toEqual(['[long] Tell me a long story, please.']);
    // The same answer, re-attached from its start and followed to its end.
    await settled(page);
    await expect
      .poll(async () => (await lastAnswerText(page)).length, { timeout: 15_000 })
      .toBeGreaterThan(partial.length);
    expect((await lastAnswerText(page)).startsWith(partial.trim().slice(0, 20))).toBe(true);
    expect(await widget.answers(page).count()).toBe(1);
    expect(model.requests.length - before).toBe(1);
    const saved = JSON.parse(
      (await page.evaluate((key) => localStorage.getItem(`mcpstack:${key}`), storyKey)) ?? '{}',
    ) as { conversationId: string };
    const calls = await service.call('GET', `${agentsPath()}/${agentId}/usage/llm-calls`, {
      token: tenant.keys.viewer,
    });
    expect(
      calls.body.data.filter(
        (call: { conversationId: string }) => call.conversationId === saved.conversationId,
      ),
    ).toHaveLength(1);
    expect(console.filter((line) => line.startsWith('pageerror'))).toEqual([]);
    await context.close();
  });

  it('shows a visible message when the key is used from an origin it does not allow', async () => {
    // A key for another site, used on this one (which some other key allows: the 403 is readable).
    const elsewhere = await createAgent('Elsewhere', ['https://elsewhere.example']);
    site.set('/wrong-key', { body: shopPage({ scriptUrl: scriptUrl(), publicKey: elsewhere.publicKey }) });
    const { page, context } = await openPage('/wrong-key');
    await widget.launcher(page).click();
    await expect
      .poll(() => widget.alert(page).textContent(), { timeout: 10_000 })
      .toBe('This chat is not enabled on this website, so it cannot answer.');
    expect(await widget.input(page).isDisabled()).toBe(true);
    await context.close();

    // An origin no key allows: the browser blocks the answer (CORS), and the widget still says so.
    otherSite.set('/', { body: shopPage({ scriptUrl: scriptUrl(), publicKey }) });
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await otherPage.goto(`${otherSite.origin}/`);
    await widget.launcher(otherPage).click();
    await expect.poll(() => widget.alert(otherPage).textContent()).toContain('Could not reach the assistant');
    await other.close();
  });

  it('tells the visitor when the assistant has reached its monthly limit (402)', async () => {
    const capped = await createAgent('Capped', [site.origin]);
    await setAgentBudget(service.call, actingAs(tenant, 'admin'), capped.agentId, {
      enabled: true,
      monthlyBudgetUsd: 0.000001,
    });
    site.set('/capped', { body: shopPage({ scriptUrl: scriptUrl(), publicKey: capped.publicKey }) });
    const { page, context } = await openPage('/capped');
    await expect.poll(() => widget.launcher(page).isVisible()).toBe(true);
    await page.evaluate(() => {
      const events: unknown[] = [];
      (window as unknown as { budgetEvents: unknown[] }).budgetEvents = events;
      (
        window as unknown as { McpStack: { on(event: string, handler: (error: unknown) => void): void } }
      ).McpStack.on('budget-exceeded', (error) => events.push((error as { scope: string }).scope));
    });
    await widget.launcher(page).click();
    await widget.input(page).fill('Hello?');
    await widget.input(page).press('Enter');
    await expect
      .poll(() => widget.alert(page).textContent(), { timeout: 10_000 })
      .toMatch(/^This assistant has reached its monthly limit\. It will be back on \w+ \d+\.$/);
    expect(await page.locator('mcpstack-agent .alert button').count()).toBe(0);
    // Announced at once (assertive), not after whatever is being read.
    expect(await widget.alert(page).getAttribute('role')).toBe('alert');
    expect(
      await page.evaluate(() => (window as unknown as { budgetEvents: unknown[] }).budgetEvents),
    ).toEqual(['agent']);
    await context.close();
  });

  it('shows a signed user their budget meter falling, the warning at the agent’s thresholds, and the reset date once spent', async () => {
    // A service of its own, on a model priced on output only: a hold is what an answer costs, so
    // the user's cap is spent answer by answer (at list prices the holds refuse long before).
    const meterModel = await startLocalModel({ chunkDelayMs: 5 });
    const priced = outputPricedModel('meter-output-priced', 1000);
    const meterService = await startTestService({
      OPENAI_BASE_URL: meterModel.url,
      MCPSTACK_MODEL_CATALOG: JSON.stringify([priced]),
    });
    try {
      const owner = await meterService.createTenant();
      const admin = actingAs(owner, 'admin');
      // 50 output tokens at 1000 USD per million: every answer costs 0.05 USD.
      const metered = await createChatAgent(meterService.call, admin, {
        agent: {
          name: 'Metered',
          model: priced.id,
          maxOutputTokens: 50,
          showUsageToUsers: true,
          budgetAlertThresholds: [50, 80],
        },
        budget: { enabled: true, monthlyBudgetUsd: 100, defaultUserBudgetUsd: 0.21 },
        embedKey: { name: 'site', allowedOrigins: [site.origin] },
      });
      const secret = await createIdentitySecret(meterService.call, admin, metered.agentId);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('meter-user')
        .setAudience(metered.agentId)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret));
      site.set('/metered', {
        body: shopPage({
          scriptUrl: `${meterService.url}/agent-sdk.js`,
          publicKey: metered.publicKey,
          attributes: { 'user-token': token },
        }),
      });
      const { page, context, console } = await openPage('/metered');
      await widget.launcher(page).click();
      const meter = page.locator('mcpstack-agent .meter');
      // Before any answer: the whole cap, read from GET /api/v1/chat/budget.
      await expect.poll(() => meter.textContent()).toBe('$0.21 of $0.21 left this month');
      expect(await meter.getAttribute('data-state')).toBe('ok');
      // The meter falls with each answer (0.05 USD), and warns past 50 and 80 % of the user's cap.
      const expected = [
        'ok|$0.16 of $0.21 left this month',
        'ok|$0.11 of $0.21 left this month',
        'warning|$0.06 of $0.21 left this month (71% used)',
        'warning|$0.01 of $0.21 left this month (95% used)',
      ];
      for (const [index, shown] of expected.entries()) {
        await widget.input(page).fill(`[long] Question ${index + 1}: tell me everything.`);
        await widget.input(page).press('Enter');
        await expect.poll(() => page.locator('mcpstack-agent .msg.user').count()).toBe(index + 1);
        await expect
          .poll(async () => `${await meter.getAttribute('data-state')}|${await meter.textContent()}`)
          .toBe(shown);
        await settled(page);
      }
      await page.screenshot({ path: artifact('widget-meter-warning.png') });
      // The next answer cannot be paid for: refused (402, the user's cap), and the meter gives the reset date.
      await widget.input(page).fill('[long] One more?');
      await widget.input(page).press('Enter');
      await expect.poll(() => meter.getAttribute('data-state')).toBe('spent');
      expect(await meter.textContent()).toMatch(/^Monthly limit reached\. It resets on \w+ \d+\.$/);
      expect(await widget.alert(page).textContent()).toMatch(
        /^You have reached your monthly limit for this assistant\. It resets on \w+ \d+\.$/,
      );
      await page.screenshot({ path: artifact('widget-meter-spent.png') });
      // The browser logs the refusal's status itself; nothing else went wrong.
      const problems = console.filter((line) => line.startsWith('error') || line.startsWith('pageerror'));
      expect(problems.filter((line) => !line.includes('status of 402'))).toEqual([]);
      await context.close();
    } finally {
      await meterService.stop();
      await meterModel.close();
    }
  });

  it("tells the visitor when to try again after the service's rate limit (429, Retry-After)", async () => {
    // The real limiter: one message a minute per visitor for this agent.
    const limited = await createAgent('Limited', [site.origin], { rateLimits: { visitorPerMinute: 1 } });
    site.set('/limited', { body: shopPage({ scriptUrl: scriptUrl(), publicKey: limited.publicKey }) });
    const { page, context } = await openPage('/limited');
    await expect.poll(() => widget.launcher(page).isVisible()).toBe(true);
    await widget.launcher(page).click();
    await widget.input(page).fill('First message');
    await widget.input(page).press('Enter');
    await settled(page);
    await widget.input(page).fill('Second message');
    await widget.input(page).press('Enter');
    await expect
      .poll(() => widget.alert(page).textContent(), { timeout: 10_000 })
      .toMatch(/^You are sending messages too quickly\. Try again in (\d+ seconds?|1 minute)\./);
    await context.close();
  });

  it('is not changed by a hostile page stylesheet, and its own CSS does not leak into the page', async () => {
    const hostile = `<style>
      * { all: unset; color: red !important; font-size: 40px !important; font-family: serif !important; }
      div { display: none !important; }
      mcpstack-agent, button, textarea, section { display: none !important; position: static !important; }
      header, form { background: yellow !important; }
    </style>`;
    site.set('/plain', { body: shopPage({ scriptUrl: scriptUrl(), publicKey }) });
    site.set('/hostile', { body: shopPage({ scriptUrl: scriptUrl(), publicKey, head: hostile }) });
    site.set('/no-widget', { body: shopPage({ scriptUrl: 'data:,', publicKey }) });

    const measure = async (path: string) => {
      const { page, context } = await openPage(path);
      await widget.launcher(page).click();
      await expect.poll(() => page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
      await page.waitForTimeout(100);
      const styles = await page.evaluate(() => {
        const root = document.querySelector('mcpstack-agent')?.shadowRoot as ShadowRoot;
        const read = (selector: string) => {
          const element = root.querySelector(selector) as HTMLElement;
          const box = element.getBoundingClientRect();
          const style = getComputedStyle(element);
          return {
            box: [box.x, box.y, box.width, box.height].map(Math.round),
            style: [
              style.display,
              style.color,
              style.backgroundColor,
              style.fontSize,
              style.fontFamily,
              style.position,
            ],
          };
        };
        return Object.fromEntries(
          ['.launcher', '.panel', 'header', 'h2', '.log', '.msg', 'textarea', '.send', '.prompts button'].map(
            (selector) => [selector, read(selector)],
          ),
        );
      });
      // Inside the panel (its rounded corners and shadow show the page behind, which differs).
      const [x = 0, y = 0, width = 0, height = 0] = styles['.panel']?.box ?? [];
      const shot = await page.screenshot({
        clip: { x: x + 16, y: y + 16, width: width - 32, height: height - 32 },
      });
      await context.close();
      return { styles, shot };
    };
    const plain = await measure('/plain');
    const attacked = await measure('/hostile');
    expect(attacked.styles).toEqual(plain.styles);
    expect(plain.styles['.panel']?.style[0]).toBe('flex');
    expect(Buffer.compare(attacked.shot, plain.shot)).toBe(0);

    // And the other way: the page's own header, form-less button and text look the same with the widget.
    const pageStyles = async (path: string) => {
      const { page, context } = await openPage(path);
      if (path === '/plain') await expect.poll(() => widget.launcher(page).isVisible()).toBe(true);
      const result = await page.evaluate(() =>
        ['header', 'h1', '#page-button', 'p'].map((selector) => {
          const style = getComputedStyle(document.querySelector(selector) as Element);
          return [
            style.display,
            style.color,
            style.backgroundColor,
            style.fontSize,
            style.fontFamily,
            style.margin,
          ];
        }),
      );
      await context.close();
      return result;
    };
    expect(await pageStyles('/plain')).toEqual(await pageStyles('/no-widget'));
  });

  it('works with the keyboard alone: Tab, Enter, type, Enter, Escape', async () => {
    site.set('/keyboard', { body: shopPage({ scriptUrl: scriptUrl(), publicKey }) });
    const { page, context } = await openPage('/keyboard');
    await expect.poll(() => widget.launcher(page).isVisible()).toBe(true);
    // The page's own button comes first in the tab order, then the launcher.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('page-button');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('button.launcher');
    // The label names the agent once its settings arrived: poll for it.
    await expect
      .poll(() => widget.launcher(page).getAttribute('aria-label'))
      .toBe('Open chat with Shop assistant');
    await page.keyboard.press('Enter');
    await expect.poll(() => widget.panel(page).isVisible()).toBe(true);
    // Focus moves on the next frame: wait for it rather than racing it on a busy machine.
    await expect.poll(() => focused(page)).toBe('textarea.');
    expect(await widget.launcher(page).getAttribute('aria-expanded')).toBe('true');
    // Every text the polite status region holds, in order (screen readers read each once).
    await page.evaluate(() => {
      const root = document.querySelector('mcpstack-agent')?.shadowRoot as ShadowRoot;
      const region = root.querySelector('[role="status"][aria-live="polite"]') as HTMLElement;
      const said: string[] = [];
      (window as unknown as { said: string[] }).said = said;
      new MutationObserver(() => {
        if (region.textContent && said.at(-1) !== region.textContent) said.push(region.textContent);
      }).observe(region, { subtree: true, childList: true, characterData: true });
    });
    await page.keyboard.type('Hi from the keyboard');
    await page.keyboard.press('Enter');
    // Poll for the finished answer (the send button is "Send message" for a moment before the send).
    await expect.poll(() => lastAnswerText(page), { timeout: 15_000 }).toContain('same reply.');
    await settled(page);
    expect(await page.locator('mcpstack-agent .msg.user').textContent()).toBe('Hi from the keyboard');
    // The transcript is a log (silent: the status region speaks for it) ...
    expect(await page.locator('mcpstack-agent .log').getAttribute('role')).toBe('log');
    // ... and the status region said that an answer began, then the finished answer, once each (not
    // each token). The finished answer may be announced a frame after the send button is back.
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { said: string[] }).said), { timeout: 10_000 })
      .toEqual([
        'Shop assistant is answering…',
        expect.stringContaining('Shop assistant: You said: "Hi from the keyboard"'),
      ]);
    await page.keyboard.press('Escape');
    await expect.poll(() => widget.panel(page).isVisible()).toBe(false);
    await expect.poll(() => focused(page)).toBe('button.launcher');
    expect(await widget.launcher(page).getAttribute('aria-expanded')).toBe('false');
    // Every control has a name.
    await widget.launcher(page).press('Enter');
    const unnamed = await page.evaluate(() => {
      const root = document.querySelector('mcpstack-agent')?.shadowRoot as ShadowRoot;
      return [...root.querySelectorAll('button, textarea')]
        .filter((element) => !element.getAttribute('aria-label') && !element.textContent?.trim())
        .map((element) => element.outerHTML);
    });
    expect(unnamed).toEqual([]);
    await context.close();
  });

  it('works on a strict-CSP page with no violation', async () => {
    const csp = `default-src 'none'; script-src 'self' ${service.url}; connect-src ${service.url}; style-src 'self'; img-src 'self' data:`;
    site.set('/csp', {
      body: shopPage({ scriptUrl: scriptUrl(), publicKey, head: '<script src="/watch.js"></script>' }),
      headers: { 'content-security-policy': csp },
    });
    const { page, context, console } = await openPage('/csp');
    await widget.launcher(page).click();
    await expect.poll(() => page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
    await widget.input(page).fill('What is the status of order A-1001?');
    await widget.input(page).press('Enter');
    await expect.poll(() => lastAnswerText(page), { timeout: 15_000 }).toContain('Order A-1001: shipped');
    // Styled (the constructable stylesheet applied): the launcher is round and in the agent's color.
    const launcher = await widget.launcher(page).evaluate((element) => {
      const style = getComputedStyle(element);
      return [style.borderRadius, style.backgroundColor, style.position];
    });
    expect(launcher).toEqual(['50%', 'rgb(15, 118, 110)', 'fixed']);
    expect(await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations)).toEqual(
      [],
    );
    expect(console.filter((line) => /Content Security Policy|Refused/i.test(line))).toEqual([]);
    await context.close();
  });

  it('runs calls queued before the script loaded, and offers the JS API on window.McpStack', async () => {
    site.set('/queue.js', {
      type: 'text/javascript',
      body: `window.McpStack = window.McpStack || function () { (window.McpStack.q = window.McpStack.q || []).push(arguments); };
window.events = [];
McpStack('on', 'open', function () { window.events.push('open'); });
McpStack('on', 'message', function (message) { window.events.push('message:' + message.role); });
McpStack('init', { publicKey: ${JSON.stringify(publicKey)}, position: 'bottom-left', colorScheme: 'dark' });
McpStack('open');`,
    });
    site.set('/queue', {
      body: `<!doctype html><html><head><meta charset="utf-8"><title>Queue</title></head><body>
<script src="/queue.js"></script>
<script src="${scriptUrl()}" async></script></body></html>`,
    });
    const { page, context } = await openPage('/queue');
    await expect.poll(() => widget.panel(page).isVisible()).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { events: string[] }).events)).toEqual(['open']);
    const box = await widget.launcher(page).boundingBox();
    expect(box?.x).toBeLessThan(100); // bottom-left, from the queued init
    await page.evaluate(() =>
      (window as unknown as { McpStack: { sendMessage(text: string): Promise<void> } }).McpStack.sendMessage(
        'Sent through the API',
      ),
    );
    expect(await page.evaluate(() => (window as unknown as { events: string[] }).events)).toEqual([
      'open',
      'message:user',
      'message:assistant',
    ]);
    await page.evaluate(() => (window as unknown as { McpStack: { close(): void } }).McpStack.close());
    expect(await widget.panel(page).isVisible()).toBe(false);
    await page.evaluate(() => (window as unknown as { McpStack: { destroy(): void } }).McpStack.destroy());
    expect(await page.locator('mcpstack-agent').count()).toBe(0);
    await context.close();
  });

  it('mounts inline into an element, without a launcher', async () => {
    site.set('/inline', {
      body: shopPage({
        scriptUrl: scriptUrl(),
        publicKey,
        attributes: { target: '#chat' },
        body: '<section id="chat" style="width: 480px; height: 560px"></section>',
      }),
    });
    const { page, context } = await openPage('/inline');
    await expect.poll(() => widget.panel(page).isVisible()).toBe(true);
    expect(await widget.launcher(page).count()).toBe(0);
    const box = await widget.panel(page).boundingBox();
    expect([box?.width, box?.height]).toEqual([480, 560]);
    await context.close();
  });

  it('goes full screen on a phone and follows a dark color scheme (screenshots)', async () => {
    site.set('/mobile', {
      body: shopPage({ scriptUrl: scriptUrl(), publicKey, attributes: { open: 'true' } }),
    });
    const mobile = await openPage('/mobile', { width: 390, height: 844 });
    await expect.poll(() => mobile.page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
    const box = await widget.panel(mobile.page).boundingBox();
    expect([box?.x, box?.y, box?.width, box?.height]).toEqual([0, 0, 390, 844]);
    await mobile.page.screenshot({ path: artifact('widget-mobile.png') });
    // Full screen, the panel is all there is: Tab and Shift+Tab wrap around inside it.
    const controls = 'mcpstack-agent .panel button, mcpstack-agent .panel textarea';
    const count = await mobile.page.locator(controls).count();
    await mobile.page
      .locator(controls)
      .nth(count - 1)
      .focus();
    const last = await focused(mobile.page);
    await mobile.page.keyboard.press('Tab');
    await expect.poll(() => focused(mobile.page)).not.toBe(last);
    const first = await focused(mobile.page);
    expect(first.startsWith('outside:')).toBe(false);
    await mobile.page.keyboard.press('Shift+Tab');
    await expect.poll(() => focused(mobile.page)).toBe(last);
    await mobile.context.close();

    const dark = await openPage('/mobile', { colorScheme: 'dark' });
    await expect.poll(() => dark.page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
    const background = await widget
      .panel(dark.page)
      .evaluate((element) => getComputedStyle(element).backgroundColor);
    expect(background).toBe('rgb(24, 24, 27)');
    await dark.page.screenshot({ path: artifact('widget-dark.png') });
    await dark.context.close();
  });

  it('loads only the launcher first, and the panel file when the browser is idle after the load', async () => {
    site.set('/lazy', { body: shopPage({ scriptUrl: scriptUrl(), publicKey }) });
    const context = await browser.newContext();
    const page = await context.newPage();
    const scripts: string[] = [];
    page.on('request', (request) => {
      if (request.resourceType() === 'script') scripts.push(new URL(request.url()).pathname);
    });
    await page.goto(`${site.origin}/lazy`);
    await expect.poll(() => widget.launcher(page).isVisible()).toBe(true);
    // Nobody opened it: the panel comes once the page has loaded and the browser is idle.
    await expect
      .poll(() => scripts, { timeout: 10_000 })
      .toEqual(['/agent-sdk.js', expect.stringMatching(/^\/agent-sdk-panel\.[\w-]+\.js$/)]);
    // A resource's timing entry is written once its file has loaded, after the request was seen.
    const readTiming = () =>
      page.evaluate(() => {
        const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
        const panel = performance
          .getEntriesByType('resource')
          .find((entry) => entry.name.includes('/agent-sdk-panel.'));
        return panel ? { loadEnd: navigation.loadEventEnd, panelStart: panel.startTime } : null;
      });
    await expect.poll(readTiming, { timeout: 10_000 }).not.toBeNull();
    const timing = (await readTiming()) as { loadEnd: number; panelStart: number };
    expect(timing.loadEnd).toBeGreaterThan(0);
    expect(timing.panelStart).toBeGreaterThanOrEqual(timing.loadEnd);
    // Opening it then needs nothing more.
    await widget.launcher(page).click();
    await expect.poll(() => page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
    expect(scripts).toHaveLength(2);
    await context.close();
  });

  it('loads the panel file on the first open when the browser was never idle, and serves it immutable', async () => {
    site.set('/busy', { body: shopPage({ scriptUrl: scriptUrl(), publicKey }) });
    const context = await browser.newContext();
    // A browser that is never idle: only an open brings the panel.
    await context.addInitScript(() => {
      window.requestIdleCallback = () => 0;
    });
    const page = await context.newPage();
    const log: string[] = [];
    const panelResponses: { status: number; cacheControl: string | undefined }[] = [];
    page.on('request', (request) => {
      if (request.resourceType() === 'script') log.push(new URL(request.url()).pathname);
    });
    page.on('response', (response) => {
      if (response.url().includes('/agent-sdk-panel.')) {
        panelResponses.push({ status: response.status(), cacheControl: response.headers()['cache-control'] });
      }
    });
    await page.goto(`${site.origin}/busy`);
    await expect.poll(() => widget.launcher(page).isVisible()).toBe(true);
    await expect.poll(() => page.evaluate(() => document.readyState)).toBe('complete');
    // The launcher works before the panel exists: it is named, and the JS API is there.
    await expect
      .poll(() => widget.launcher(page).getAttribute('aria-label'))
      .toBe('Open chat with Shop assistant');
    expect(await page.evaluate(() => typeof (window as unknown as { McpStack: unknown }).McpStack)).toBe(
      'function',
    );
    expect(log).toEqual(['/agent-sdk.js']);
    log.push('click');
    await widget.launcher(page).click();
    await expect.poll(() => widget.panel(page).isVisible()).toBe(true);
    await expect.poll(() => focused(page)).toBe('textarea.');
    expect(log).toEqual(['/agent-sdk.js', 'click', expect.stringMatching(/^\/agent-sdk-panel\.[\w-]+\.js$/)]);
    expect(panelResponses).toEqual([{ status: 200, cacheControl: 'public, max-age=31536000, immutable' }]);
    await context.close();
  });

  it('keeps the input above the on-screen keyboard on a phone (visualViewport), at 16 px', async () => {
    site.set('/phone', { body: shopPage({ scriptUrl: scriptUrl(), publicKey }) });
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 3,
    });
    // The keyboard, simulated: it shrinks the visual viewport (not the layout one), as on iOS.
    await context.addInitScript(() => {
      const viewport = new EventTarget();
      let height: number | null = null;
      let offsetTop = 0;
      Object.defineProperties(viewport, {
        width: { get: () => window.innerWidth },
        // No keyboard: the layout viewport's height.
        height: { get: () => height ?? window.innerHeight },
        offsetTop: { get: () => offsetTop },
        offsetLeft: { value: 0 },
        scale: { value: 1 },
      });
      Object.defineProperty(window, 'visualViewport', { configurable: true, get: () => viewport });
      (window as unknown as { keyboard(visible: number | null, top: number): void }).keyboard = (
        visible,
        top,
      ) => {
        height = visible;
        offsetTop = top;
        viewport.dispatchEvent(new Event('resize'));
      };
    });
    const page = await context.newPage();
    await page.goto(`${site.origin}/phone`);
    await widget.launcher(page).tap();
    await expect.poll(() => page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
    const box = async (selector: string) => {
      const found = await page.locator(`mcpstack-agent ${selector}`).boundingBox();
      return [found?.x, found?.y, found?.width, found?.height].map((value) => Math.round(value ?? -1));
    };
    expect(await box('.panel')).toEqual([0, 0, 390, 844]);
    expect(await widget.input(page).evaluate((element) => getComputedStyle(element).fontSize)).toBe('16px');
    await widget.input(page).tap();

    // The keyboard takes the bottom 340 px, and the page scrolled the visual viewport down 20 px.
    await page.evaluate(() =>
      (window as unknown as { keyboard(visible: number | null, top: number): void }).keyboard(504, 20),
    );
    await expect.poll(() => box('.panel')).toEqual([0, 20, 390, 504]);
    const input = await box('textarea');
    expect((input[1] ?? 0) + (input[3] ?? 0)).toBeLessThanOrEqual(20 + 504);
    expect(await page.locator('mcpstack-agent .send').isVisible()).toBe(true);
    await page.screenshot({ path: artifact('widget-phone-keyboard.png') });

    // The keyboard goes away: full height again.
    await page.evaluate(() =>
      (window as unknown as { keyboard(visible: number | null, top: number): void }).keyboard(null, 0),
    );
    await expect.poll(() => box('.panel')).toEqual([0, 0, 390, 844]);
    await context.close();
  });

  it('works on a page whose CSP allows scripts and styles only by nonce, with no violation', async () => {
    const nonce = 'bm9uY2UtZm9yLXRlc3Rz';
    const csp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src ${service.url}; img-src 'self' data:`;
    site.set('/nonce', {
      body: shopPage({
        scriptUrl: scriptUrl(),
        publicKey,
        nonce,
        head: `<script src="/watch.js" nonce="${nonce}"></script>`,
      }),
      headers: { 'content-security-policy': csp },
    });
    // Twice: in today's Chromium (constructable stylesheets), and as a browser without them, where
    // the widget's styles are `<style>` elements that need the nonce.
    for (const constructable of [true, false]) {
      const context = await browser.newContext();
      if (!constructable) {
        await context.addInitScript(() => {
          delete (ShadowRoot.prototype as Partial<ShadowRoot>).adoptedStyleSheets;
          delete (Document.prototype as Partial<Document>).adoptedStyleSheets;
        });
      }
      const { page, console } = await openPage('/nonce', { context });
      await widget.launcher(page).click();
      await expect.poll(() => page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
      await widget.input(page).fill('What is the status of order A-1001?');
      await widget.input(page).press('Enter');
      await expect.poll(() => lastAnswerText(page), { timeout: 15_000 }).toContain('Order A-1001: shipped');
      const styled = await page.evaluate(() => {
        const root = document.querySelector('mcpstack-agent')?.shadowRoot as ShadowRoot;
        const style = (selector: string) => getComputedStyle(root.querySelector(selector) as Element);
        return {
          styleElements: root.querySelectorAll('style').length,
          launcher: [style('.launcher').borderRadius, style('.launcher').backgroundColor],
          header: style('header').backgroundColor,
          send: style('.send').borderRadius,
        };
      });
      expect(styled).toEqual({
        styleElements: constructable ? 0 : 2,
        launcher: ['50%', 'rgb(15, 118, 110)'],
        header: 'rgb(15, 118, 110)',
        send: '50%',
      });
      expect(
        await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations),
      ).toEqual([]);
      expect(console.filter((line) => /Content Security Policy|Refused/i.test(line))).toEqual([]);
      await context.close();
    }
  });

  it('renders <McpStackChat> and a useMcpStackChat UI in a React app', async () => {
    const files = await buildReactApp();
    for (const [name, code] of files) site.set(`/react/${name}`, { body: code, type: 'text/javascript' });
    site.set('/react/', {
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>React shop</title></head><body>
<div id="root"></div>
<script>window.reactTest = ${JSON.stringify({ publicKey, apiBase: service.url })};</script>
<script type="module" src="/react/app.js"></script></body></html>`,
    });
    const { page, context, console } = await openPage('/react/');
    // The component, inline in its box (React's StrictMode mounted it twice: one widget is left).
    await expect.poll(() => widget.panel(page).isVisible()).toBe(true);
    expect(await page.locator('mcpstack-agent').count()).toBe(1);
    expect(await widget.launcher(page).count()).toBe(0);
    const box = await widget.panel(page).boundingBox();
    expect([box?.width, box?.height]).toEqual([480, 560]);
    await expect.poll(() => page.locator('mcpstack-agent h2').textContent()).toBe('Shop assistant');
    await widget.input(page).fill('Hi from the React component');
    await widget.input(page).press('Enter');
    await expect
      .poll(() => lastAnswerText(page), { timeout: 15_000 })
      .toContain('You said: "Hi from the React component"');
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { reactEvents: string[] }).reactEvents), {
        timeout: 15_000,
      })
      .toEqual(expect.arrayContaining(['ready:Shop assistant', 'message:user', 'message:assistant']));

    // The hook: the app's own UI on the headless client.
    await page.locator('#own-ask').click();
    await expect.poll(() => page.locator('#own-status').textContent(), { timeout: 15_000 }).toBe('idle');
    await expect
      .poll(() => page.locator('#own-chat li[data-role="assistant"]').textContent(), { timeout: 15_000 })
      .toContain('You said: "Hello from React"');
    expect(await page.locator('#own-chat li[data-role="user"]').textContent()).toBe('Hello from React');
    expect(console.filter((line) => line.startsWith('error') || line.startsWith('pageerror'))).toEqual([]);
    await context.close();
  });
});

describe('the service serves the widget script', () => {
  it('at /agent-sdk.js (short cache) and /agent-sdk@<version>.js (immutable), to any origin', async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../packages/agent-sdk/package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const latest = await fetch(`${service.url}/agent-sdk.js`);
    expect(latest.status).toBe(200);
    expect(latest.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(latest.headers.get('cache-control')).toBe('public, max-age=300');
    expect(latest.headers.get('access-control-allow-origin')).toBe('*');
    expect(latest.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(latest.headers.get('content-security-policy')).toBeNull();
    const pinned = await fetch(`${service.url}/agent-sdk@${version}.js`);
    expect(pinned.status).toBe(200);
    expect(pinned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await pinned.text()).toBe(await latest.text());
    const unknown = await fetch(`${service.url}/agent-sdk@0.0.0-nope.js`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('not_found');
  });

  it('serves the panel file the launcher names, immutable, and no other file by that pattern', async () => {
    const launcher = await (await fetch(`${service.url}/agent-sdk.js`)).text();
    const name = /agent-sdk-panel\.[\w-]+\.js/.exec(launcher)?.[0];
    expect(name).toBeDefined();
    const panel = await fetch(`${service.url}/${name}`);
    expect(panel.status).toBe(200);
    expect(panel.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(panel.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(panel.headers.get('access-control-allow-origin')).toBe('*');
    expect(await panel.text()).toContain('McpStackPanel');
    for (const path of [
      '/agent-sdk-panel.AAAAAAAA.js',
      '/agent-sdk-panel.%2e%2e%2fpackage.json',
      '/agent-sdk-panel..js',
    ]) {
      const refused = await fetch(`${service.url}${path}`);
      expect(refused.status, path).toBe(404);
    }
  });
});
