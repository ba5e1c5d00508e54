import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** The budget of the script a page loads (SPEC: the widget script ≤ 15 KB gzip, Preact included). */
export const gzipBudgetBytes = 15 * 1024;

export const iifeFile = new URL('../dist/agent-sdk.iife.js', import.meta.url);

export interface ScriptSize {
  rawBytes: number;
  /** gzip at level 9, the strictest honest measure (servers often send less compressed bytes, never fewer). */
  gzipBytes: number;
}

export function measureScript(file: URL = iifeFile): ScriptSize {
  const bytes = readFileSync(file);
  return { rawBytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
}
