import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'local-model',
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
  },
});
