import { existsSync, mkdirSync } from 'node:fs';
import { chromiumPath } from '@mcpstack/test-support/browser';

/**
 * Whether the browser tests run: always in CI (which installs Chromium, so a missing one fails
 * loudly there), and on a developer's machine when Chromium is installed. Without it, `npm test`
 * says how to get it instead of failing the whole run.
 */
export const browserTestsRun = process.env.CI === 'true' || existsSync(chromiumPath);
if (!browserTestsRun) {
  console.warn(
    `Browser tests not run: no Chromium at ${chromiumPath}. Install Debian's (sudo apt-get install -y chromium) or set CHROMIUM_PATH; CI always runs them.`,
  );
}

/** Where the tests save screenshots of the widget (git-ignored; CI keeps them as artifacts). */
export const artifactsDir = new URL('../artifacts/', import.meta.url);
export function artifact(name: string): string {
  mkdirSync(artifactsDir, { recursive: true });
  return new URL(name, artifactsDir).pathname;
}
