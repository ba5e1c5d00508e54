import { fileURLToPath } from 'node:url';
import { launchChromium } from '@mcpstack/test-support/browser';
import { freePort } from '@mcpstack/test-support/ports';
import {
  nodeCommand,
  type Spawned,
  spawnProcess,
  stopProcess,
  untilReady,
} from '@mcpstack/test-support/processes';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { artifact, browserTestsRun } from './support/browser.ts';

/**
 * `npm run demo`, as a newcomer runs it: one process that starts everything and prints where to
 * go; the sample website's widget answers with the coffee shop's tools; Ctrl-C stops it cleanly.
 */
const demoFile = fileURLToPath(new URL('../demo/src/demo.ts', import.meta.url));

let demo: Spawned;
let output = '';
let siteUrl = '';
let browser: Browser;

beforeAll(async () => {
  const [sitePort, servicePort] = [await freePort(), await freePort()];
  demo = spawnProcess(nodeCommand(demoFile), {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: inject('redisUrl'),
      DEMO_SITE_PORT: String(sitePort),
      MCPSTACK_DATA_DIR: 'memory://',
      PORT: String(servicePort),
    },
  });
  // Polls the demo's output for its ready line; starting the service and the site is slow under load.
  await untilReady(
    demo,
    () => {
      output = demo.output.join('');
      return output.includes('Ctrl-C stops everything');
    },
    { what: 'the demo', timeoutMs: 150_000, intervalMs: 100 },
  );
  siteUrl = `http://localhost:${sitePort}`;
  if (browserTestsRun) browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (demo && demo.child.exitCode === null) demo.child.kill('SIGKILL');
});

describe('npm run demo', () => {
  it('prints the URLs, an admin key and the embed key', () => {
    expect(output).toContain(`Website (launcher bubble)   ${siteUrl}/`);
    expect(output).toMatch(/Admin key\s+mcpstack_sk_[0-9a-f]{8}_[0-9a-f]{32}/);
    expect(output).toMatch(/Embed key\s+mcpstack_pk_[0-9a-f]{32}/);
  });

  it.runIf(browserTestsRun)(
    "answers on the sample website with the shop's tools",
    async () => {
      const page = await browser.newPage();
      await page.goto(`${siteUrl}/`);
      const launcher = page.locator('mcpstack-agent .launcher');
      await expect.poll(() => launcher.isVisible(), { timeout: 30_000 }).toBe(true);
      await page.screenshot({ path: artifact('demo-closed.png') });
      await launcher.click();
      await page.locator('mcpstack-agent .prompts button').first().click();
      const answer = page.locator('mcpstack-agent .msg.assistant').last();
      await expect.poll(() => answer.textContent(), { timeout: 30_000 }).toContain('Order A-1001 is shipped');
      await expect
        .poll(() => page.locator('mcpstack-agent .tool').first().textContent(), { timeout: 20_000 })
        .toContain('Look up order');
      // The visitor's own message sits on the agent's color (#b45309), its text readable on it.
      const bubble = page.locator('mcpstack-agent .msg.user').last();
      expect(await bubble.evaluate((element) => getComputedStyle(element).backgroundColor)).toBe(
        'rgb(180, 83, 9)',
      );
      await page.screenshot({ path: artifact('demo-open.png') });
      await page.close();
    },
    120_000,
  );

  it.runIf(browserTestsRun)(
    "shows a signed-in user's own limit on the account page",
    async () => {
      const page = await browser.newPage();
      await page.goto(`${siteUrl}/account.html?user=bob`);
      const launcher = page.locator('mcpstack-agent .launcher');
      await expect.poll(() => launcher.isVisible(), { timeout: 30_000 }).toBe(true);
      await launcher.click();
      await page.locator('mcpstack-agent textarea').fill('Hello');
      await page.locator('mcpstack-agent textarea').press('Enter');
      await expect
        .poll(() => page.locator('mcpstack-agent').evaluate((host) => host.shadowRoot?.textContent ?? ''), {
          timeout: 30_000,
        })
        .toContain('You have reached your monthly limit');
      await page.close();
    },
    120_000,
  );

  it('stops everything on Ctrl-C', async () => {
    expect(await stopProcess(demo, 'SIGINT')).toBe(0);
    await expect(fetch(siteUrl)).rejects.toThrow();
  }, 60_000);
});
