import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    // What a test waits on is polled, with room for a loaded 2-core machine (the default is 1 s).
    expect: { poll: { timeout: 15_000, interval: 50 } },
    name: 'e2e',
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    globalSetup: [
      './support/redis-global-setup.ts',
      './support/widget-global-setup.ts',
      './support/console-global-setup.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 180_000,
  },
});
