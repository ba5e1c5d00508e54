import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** The budgets (SPEC): the script tag's first load (launcher and JS API) and the whole widget. */
export const launcherBudgetBytes = 5 * 1024;
export const totalBudgetBytes = 20 * 1024;

const dist = new URL('../dist/', import.meta.url);
export const iifeFile = new URL('agent-sdk.iife.js', dist);

/** `dist/agent-sdk-panel.<hash>.js`: the panel file the build made. */
export function panelFile(): URL {
  const name = readdirSync(dist).find((file) => /^agent-sdk-panel\.[\w-]+\.js$/.test(file));
  if (!name) throw new Error('dist/agent-sdk-panel.<hash>.js is missing: run `npm run build` first');
  return new URL(name, dist);
}

export interface ScriptSize {
  rawBytes: number;
  /** gzip at level 9, the strictest honest measure (servers often send less compressed bytes, never fewer). */
  gzipBytes: number;
}

export function measureScript(file: URL = iifeFile): ScriptSize {
  const bytes = readFileSync(file);
  return { rawBytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
}

/** Both files of the script tag, and what is over budget (empty when nothing is). */
export function measureWidget() {
  const launcher = measureScript(iifeFile);
  const panel = measureScript(panelFile());
  const totalGzipBytes = launcher.gzipBytes + panel.gzipBytes;
  const over: string[] = [];
  if (launcher.gzipBytes > launcherBudgetBytes) {
    over.push(`the launcher is over its budget by ${launcher.gzipBytes - launcherBudgetBytes} bytes`);
  }
  if (totalGzipBytes > totalBudgetBytes) {
    over.push(`the whole widget is over its budget by ${totalGzipBytes - totalBudgetBytes} bytes`);
  }
  return { launcher, panel, panelName: panelFile().pathname.split('/').pop() ?? '', totalGzipBytes, over };
}
