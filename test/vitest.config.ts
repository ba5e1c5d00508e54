import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
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
