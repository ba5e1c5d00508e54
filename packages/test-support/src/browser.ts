import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (CI installs it with apt-get; never a downloaded browser build). */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Headless Chromium at `chromiumPath`, for the browser tests and the widget's benchmark. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Playwright's 30 s default is short when six engineers share two cores.
    timeout: 120_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
