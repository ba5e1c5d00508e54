/**
 * `npm run size`: fails (exit 1) when the script tag's launcher grows past 5 KB gzip or the whole
 * widget (launcher and panel) past 20 KB. The build runs it last, and
 * packages/agent-sdk/test/size.test.ts asserts the same in CI.
 */
import { launcherBudgetBytes, measureWidget, totalBudgetBytes } from './size.ts';

const { launcher, panel, panelName, totalGzipBytes, over } = measureWidget();
const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`;
console.log(
  `dist/agent-sdk.iife.js: ${kb(launcher.rawBytes)} raw, ${kb(launcher.gzipBytes)} gzip (budget ${kb(launcherBudgetBytes)} gzip)`,
);
console.log(`dist/${panelName}: ${kb(panel.rawBytes)} raw, ${kb(panel.gzipBytes)} gzip`);
console.log(`together: ${kb(totalGzipBytes)} gzip (budget ${kb(totalBudgetBytes)} gzip)`);
if (over.length > 0) {
  console.error(over.join('; '));
  process.exit(1);
}
