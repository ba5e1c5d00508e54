import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'test-support',
    include: ['test/**/*.test.ts'],
    // A child process or a redis-server takes seconds to start on a loaded 2-core machine.
    testTimeout: 60_000,
  },
});
