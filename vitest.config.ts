import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/agent-sdk', 'packages/local-model', 'packages/cli', 'services/chat', 'test'],
  },
});
