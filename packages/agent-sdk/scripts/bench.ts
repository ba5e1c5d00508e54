/**
 * The widget benchmark (`npm run bench -w @mcpstack/agent-sdk`): the sizes of the script tag's two
 * files, the time from the launcher script starting to run to its launcher being on screen, and
 * the time from a first open to the panel on screen with the panel file not yet loaded (a cold
 * cache), in Debian's headless Chromium, median of N page loads (`-- --loads 50`). Writes its
 * results into the "Widget" section of docs/benchmarks.md (the other sections are left as they are).
 *
 * The page, the two files and a stub of `GET /api/v1/chat/config` come from one local node:http
 * server (`no-store`: nothing is cached between loads), so the numbers are the widget's own, not
 * the network's. The widget marks `mcpstack:script-start` (its first statement),
 * `mcpstack:launcher-rendered` / `-visible` (in the DOM / painted a frame later), `mcpstack:open`
 * (the first open, before the panel file is requested) and `mcpstack:panel-rendered` / `-visible`.
 * The page turns the idle-time preload off (a stubbed `requestIdleCallback`), so every open is cold.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { launchChromium } from '@mcpstack/test-support/browser';
import { listen } from '@mcpstack/test-support/http-server';
import { ensureWidgetBuilt } from './ensure-built.ts';
import { iifeFile, launcherBudgetBytes, measureWidget, panelFile, totalBudgetBytes } from './size.ts';

const { values } = parseArgs({ options: { loads: { type: 'string', default: '30' } } });
const loads = Number(values.loads);
const targetMs = 50;
const openTargetMs = 150;

ensureWidgetBuilt();
const size = measureWidget();
const script = readFileSync(iifeFile);
const panel = readFileSync(panelFile());
const config = JSON.stringify({
  agentId: 'agent_bench',
  name: 'Bench',
  welcomeMessage: 'Hi',
  starterPrompts: [],
  theme: { primaryColor: '#4f46e5', position: 'bottom-right', colorScheme: 'auto' },
  limits: { maxMessageChars: 4000 },
});
const page = `<!doctype html><html><head><meta charset="utf-8"><title>bench</title></head><body>
<h1>A page</h1><script src="/agent-sdk.js" data-public-key="mcpstack_pk_${'0'.repeat(32)}"></script></body></html>`;

const server = createServer((request, response) => {
  response.setHeader('cache-control', 'no-store');
  if (request.url === '/agent-sdk.js')
    response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
  else if (request.url === `/${size.panelName}`)
    response.writeHead(200, { 'content-type': 'text/javascript' }).end(panel);
  else if (request.url === '/api/v1/chat/config')
    response.writeHead(200, { 'content-type': 'application/json' }).end(config);
  else if (request.url === '/') response.writeHead(200, { 'content-type': 'text/html' }).end(page);
  else response.writeHead(404).end();
});
const { origin, close } = await listen(server);

const browser = await launchChromium();
const rendered: number[] = [];
const visible: number[] = [];
const opened: number[] = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(() => {
    window.requestIdleCallback = () => 0;
  });
  for (let load = 0; load < loads + 3; load += 1) {
    const tab = await context.newPage();
    await tab.goto(`${origin}/`);
    await tab.waitForFunction(() => performance.getEntriesByName('mcpstack:launcher-visible').length > 0);
    await tab.click('mcpstack-agent .launcher');
    await tab.waitForFunction(() => performance.getEntriesByName('mcpstack:panel-visible').length > 0);
    const marks = await tab.evaluate(() => {
      const at = (name: string) => performance.getEntriesByName(name)[0]?.startTime ?? Number.NaN;
      const start = at('mcpstack:script-start');
      return {
        rendered: at('mcpstack:launcher-rendered') - start,
        visible: at('mcpstack:launcher-visible') - start,
        opened: at('mcpstack:panel-visible') - at('mcpstack:open'),
      };
    });
    // The first loads warm up the browser process (code caches, font loading): not counted.
    if (load >= 3) {
      rendered.push(marks.rendered);
      visible.push(marks.visible);
      opened.push(marks.opened);
    }
    await tab.close();
  }
  await context.close();
} finally {
  await browser.close();
  await close();
}

const percentile = (samples: number[], p: number) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const ms = (value: number) => `${value.toFixed(1)} ms`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`;
const chromiumVersion = browser.version();
const now = new Date().toISOString().slice(0, 16).replace('T', ' ');
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, Chromium ${chromiumVersion}`;
const medianVisible = percentile(visible, 50);
const medianOpened = percentile(opened, 50);

/** A Markdown table with padded columns (the repository's formatter aligns them so). */
function table(rows: string[][]): string {
  const widths =
    rows[0]?.map((_, column) => Math.max(3, ...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  const [head = [], ...body] = rows;
  return [line(head), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n');
}

const sizeTable = table([
  ['file', 'loaded', 'raw', 'gzip', 'budget (gzip)'],
  [
    '`agent-sdk.iife.js` (launcher, JS API)',
    'by the script tag',
    kb(size.launcher.rawBytes),
    kb(size.launcher.gzipBytes),
    kb(launcherBudgetBytes),
  ],
  [
    '`agent-sdk-panel.<hash>.js` (panel)',
    'on first open or when idle',
    kb(size.panel.rawBytes),
    kb(size.panel.gzipBytes),
    '',
  ],
  [
    'together',
    '',
    kb(size.launcher.rawBytes + size.panel.rawBytes),
    kb(size.totalGzipBytes),
    kb(totalBudgetBytes),
  ],
]);
const timeTable = table([
  ['measure', 'median', 'p95', 'max', 'target'],
  [
    'launcher rendered',
    ms(percentile(rendered, 50)),
    ms(percentile(rendered, 95)),
    ms(Math.max(...rendered)),
    '',
  ],
  [
    'launcher visible',
    ms(medianVisible),
    ms(percentile(visible, 95)),
    ms(Math.max(...visible)),
    `≤ ${targetMs} ms`,
  ],
  [
    'first open to panel visible (cold)',
    ms(medianOpened),
    ms(percentile(opened, 95)),
    ms(Math.max(...opened)),
    `≤ ${openTargetMs} ms`,
  ],
]);

const section = `## Widget

Run alone: \`npm run bench -w @mcpstack/agent-sdk\` (\`-- --loads <n>\`, default 30). Needs Debian's
Chromium at \`/usr/bin/chromium\` (or \`CHROMIUM_PATH\`).

Measured ${now} UTC on ${machine}.

The script tag loads \`dist/agent-sdk.iife.js\`: the launcher (plain DOM, no Preact) and the JS API. The
panel (Preact, the client, the Markdown renderer and its styles) is a second file, named by its
content hash, loaded on the first open or when the browser is idle after the page's load. Gzip at
level 9. The build fails past either budget (\`npm run size\`), and so does the test
\`packages/agent-sdk/test/size.test.ts\`.

${sizeTable}

Time from the script's first statement (\`mcpstack:script-start\`) to the launcher in the DOM
(\`mcpstack:launcher-rendered\`) and painted (\`mcpstack:launcher-visible\`, the frame after), and
from a click on the launcher (\`mcpstack:open\`) to the panel painted (\`mcpstack:panel-visible\`) with
the panel file not loaded yet (the idle-time preload turned off, nothing cached): on a local page in
headless Chromium, ${loads} page loads after 3 warm-up loads, each a new tab. The launcher does not
wait for the agent's settings: it renders at once and the settings restyle it.

${timeTable}
`;

const docs = new URL('../../../docs/benchmarks.md', import.meta.url);
let text: string;
try {
  text = readFileSync(docs, 'utf8');
} catch {
  text = '# Benchmarks\n';
}
// Replace this section only (up to the next "## " heading), or add it at the end.
const pattern = /^## Widget\n[\s\S]*?(?=^## |(?![\s\S]))/m;
text = pattern.test(text) ? text.replace(pattern, `${section}\n`) : `${text.trimEnd()}\n\n${section}`;
writeFileSync(docs, `${text.trimEnd()}\n`);

console.log(section);
if (size.over.length > 0 || !(medianVisible <= targetMs) || !(medianOpened <= openTargetMs)) {
  console.error('the widget misses a target');
  process.exitCode = 1;
}
