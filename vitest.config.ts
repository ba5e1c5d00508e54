import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['services/chat', 'test'],
  },
});
