import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'cli',
    include: ['test/**/*.test.ts'],
    globalSetup: ['../../test/support/redis-global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
