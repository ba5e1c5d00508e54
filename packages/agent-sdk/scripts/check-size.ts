/**
 * `npm run size`: fails (exit 1) when the script tag's bundle grows past its gzip budget. The
 * build runs it last, and packages/agent-sdk/test/size.test.ts asserts the same in CI.
 */
import { gzipBudgetBytes, measureScript } from './size.ts';

const { rawBytes, gzipBytes } = measureScript();
const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`;
const line = `dist/agent-sdk.iife.js: ${kb(rawBytes)} raw, ${kb(gzipBytes)} gzip (budget ${kb(gzipBudgetBytes)} gzip)`;
if (gzipBytes > gzipBudgetBytes) {
  console.error(`${line}: over budget by ${gzipBytes - gzipBudgetBytes} bytes`);
  process.exit(1);
}
console.log(line);
