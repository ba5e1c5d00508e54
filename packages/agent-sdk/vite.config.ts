import { readFileSync } from 'node:fs';
import { defineConfig } from 'vite';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * Two library builds from one config, picked by `--mode`: Vite's `build.lib` cannot emit an IIFE
 * for several entries, and the two differ anyway.
 * - `iife`: `dist/agent-sdk.iife.js`, what the script tag loads: the embed entry, Preact bundled,
 *   minified, one file (the size budget applies to it).
 * - `esm`: `dist/index.js`, the package's import: the public surface, Preact left to the
 *   application's bundler so it is not shipped twice.
 */
export default defineConfig(({ mode }) => {
  const iife = mode === 'iife';
  return {
    define: { __SDK_VERSION__: JSON.stringify(version) },
    // Classic JSX (`h(type, props, ...children)`): smaller than the automatic runtime's calls.
    oxc: { jsx: { runtime: 'classic', pragma: 'h', pragmaFrag: 'Fragment' } },
    build: {
      target: 'es2022',
      outDir: 'dist',
      emptyOutDir: iife,
      sourcemap: true,
      minify: iife,
      reportCompressedSize: false,
      lib: iife
        ? {
            entry: 'src/embed.ts',
            name: 'McpStackAgentSdk',
            formats: ['iife'],
            fileName: () => 'agent-sdk.iife.js',
          }
        : { entry: 'src/index.ts', formats: ['es'], fileName: () => 'index.js' },
      rolldownOptions: iife
        ? // The first statement the script runs: the benchmark measures from this mark to the launcher's.
          { output: { banner: 'performance.mark("mcpstack:script-start");' } }
        : { external: [/^preact(\/|$)/] },
    },
  };
});
