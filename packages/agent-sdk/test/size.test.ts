import { describe, expect, it } from 'vitest';
import { gzipBudgetBytes, measureScript } from '../scripts/size.ts';

describe('the script tag bundle', () => {
  it('stays within 15 KB gzip, Preact included', () => {
    const { gzipBytes, rawBytes } = measureScript();
    expect(rawBytes).toBeGreaterThan(10_000); // the real bundle, not an empty file
    expect(gzipBytes).toBeLessThanOrEqual(gzipBudgetBytes);
  });
});
