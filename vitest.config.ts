import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      'packages/agent-sdk',
      'packages/local-model',
      'packages/cli',
      'packages/test-support',
      'services/chat',
      'test',
    ],
  },
});
