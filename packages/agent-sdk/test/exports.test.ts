import { build, type Rolldown } from 'vite';
import { describe, expect, it } from 'vitest';

/**
 * What an application's bundler keeps of the package (its published exports, from dist/): built
 * with Vite as an app would be, from a one-line entry: its chunks.
 */
async function bundle(entry: string): Promise<Rolldown.OutputChunk[]> {
  const result = await build({
    configFile: false,
    logLevel: 'silent',
    root: new URL('.', import.meta.url).pathname,
    plugins: [
      {
        name: 'entry',
        resolveId: (id) => (id === 'virtual:entry' ? '\0entry' : null),
        load: (id) => (id === '\0entry' ? entry : null),
      },
    ],
    build: { write: false, minify: false, rolldownOptions: { input: 'virtual:entry', external: [/^react/] } },
  });
  return (Array.isArray(result) ? result : [result])
    .flatMap((output) => (output as Rolldown.RolldownOutput).output)
    .filter((file): file is Rolldown.OutputChunk => file.type === 'chunk');
}

describe('the package as an application bundles it', () => {
  it('keeps neither the widget nor Preact for an app that imports only the headless client', async () => {
    for (const from of ['@mcpstack/agent-sdk/client', '@mcpstack/agent-sdk']) {
      const chunks = await bundle(
        `import { createChatClient } from '${from}'; window.client = createChatClient;`,
      );
      const code = chunks.map((chunk) => chunk.code).join('\n');
      expect(code, from).toContain('mcpstack:');
      expect(code, from).not.toContain('mcpstack-agent');
      expect(code, from).not.toContain('adoptedStyleSheets');
      // Preact's options hook names, which its runtime always carries.
      expect(code, from).not.toMatch(/__b|__r|diffed/);
    }
  });

  it('keeps the panel out of the first chunk for an app that mounts the widget', async () => {
    const chunks = await bundle(
      `import { init } from '@mcpstack/agent-sdk'; init({ publicKey: 'mcpstack_pk_x' });`,
    );
    const entry = chunks.find((chunk) => chunk.isEntry);
    expect(entry?.code).toContain('mcpstack-agent');
    expect(entry?.code).not.toContain('Write a message');
    expect(chunks.some((chunk) => !chunk.isEntry && chunk.code.includes('Write a message'))).toBe(true);
  });
});
