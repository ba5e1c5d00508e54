import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'chat',
    include: ['test/**/*.test.ts'],
    globalSetup: ['../../test/support/redis-global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
