import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  iifeFile,
  launcherBudgetBytes,
  measureWidget,
  panelFile,
  totalBudgetBytes,
} from '../scripts/size.ts';

describe('the script tag bundle', () => {
  it('loads a launcher of at most 5 KB gzip first, and at most 20 KB gzip with its panel', () => {
    const { launcher, panel, totalGzipBytes } = measureWidget();
    // The real files, not empty ones: the panel holds Preact and the view, the launcher does not.
    expect(panel.rawBytes).toBeGreaterThan(20_000);
    expect(launcher.rawBytes).toBeGreaterThan(2_000);
    expect(launcher.gzipBytes).toBeLessThanOrEqual(launcherBudgetBytes);
    expect(totalGzipBytes).toBeLessThanOrEqual(totalBudgetBytes);
  });

  it('names the panel by its content hash, and the launcher loads that name', () => {
    const name = panelFile().pathname.split('/').pop() ?? '';
    expect(name).toMatch(/^agent-sdk-panel\.[\w-]{8}\.js$/);
    expect(readFileSync(iifeFile, 'utf8')).toContain(name);
  });
});
