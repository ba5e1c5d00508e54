import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    // What a test waits on is polled, with room for a loaded 2-core machine (the default is 1 s).
    expect: { poll: { timeout: 15_000, interval: 50 } },
    name: 'chat',
    include: ['test/**/*.test.ts'],
    globalSetup: ['../../test/support/redis-global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
