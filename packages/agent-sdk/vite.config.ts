import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The panel file the `panel` build wrote (its name carries its content hash). */
function panelFile(): string {
  const name = readdirSync(new URL('./dist/', import.meta.url)).find((file) =>
    /^agent-sdk-panel\.[\w-]+\.js$/.test(file),
  );
  if (!name)
    throw new Error('dist/agent-sdk-panel.<hash>.js is missing: run `vite build --mode panel` first');
  return name;
}

/**
 * Three library builds from one config, picked by `--mode` (run in this order by `npm run build`):
 * - `panel`: `dist/agent-sdk-panel.<hash>.js`, the script tag's second file: the panel (Preact,
 *   the client, Markdown, the view and its styles) as an IIFE assigning `window.McpStackPanel`.
 *   Its name carries its content hash, so it is served as immutable.
 * - `iife`: `dist/agent-sdk.iife.js`, what the script tag loads: the launcher and the JS API, no
 *   Preact (≤ 5 KB gzip); it loads the panel file by the name the `panel` build gave it.
 * - `esm`: the package's imports: `.` (`dist/index.js`, the widget, its panel a lazily imported
 *   chunk), `./client` (the headless client) and `./react`; Preact and React are left to the
 *   application's bundler so they are not shipped twice.
 * Vite's `build.lib` cannot emit an IIFE for several entries, and the three differ anyway.
 */
export default defineConfig(({ mode }) => {
  const esm = mode === 'esm';
  const panel = mode === 'panel';
  const minify = !esm;
  return {
    define: {
      __SDK_VERSION__: JSON.stringify(version),
      ...(mode === 'iife' ? { __PANEL_FILE__: JSON.stringify(panelFile()) } : {}),
    },
    resolve: {
      // The script tag's launcher loads the panel as a second script, not by import().
      alias:
        mode === 'iife'
          ? [
              {
                find: './load-panel.ts',
                replacement: fileURLToPath(new URL('./src/widget/load-panel.script.ts', import.meta.url)),
              },
            ]
          : [],
    },
    // Classic JSX (`h(type, props, ...children)`): smaller than the automatic runtime's calls.
    oxc: { jsx: { runtime: 'classic', pragma: 'h', pragmaFrag: 'Fragment' } },
    build: {
      target: 'es2022',
      outDir: 'dist',
      emptyOutDir: panel,
      sourcemap: true,
      minify,
      reportCompressedSize: false,
      lib: esm
        ? {
            entry: { index: 'src/index.ts', client: 'src/client/index.ts', react: 'src/react.ts' },
            formats: ['es'],
            fileName: (_format, name) => `${name}.js`,
          }
        : panel
          ? { entry: 'src/panel-entry.ts', name: 'McpStackPanel', formats: ['iife'] }
          : {
              entry: 'src/embed.ts',
              name: 'McpStackAgentSdk',
              formats: ['iife'],
              fileName: () => 'agent-sdk.iife.js',
            },
      rolldownOptions: {
        // The chat protocol's header names are written where they are used, not kept as variables.
        optimization: { inlineConst: true },
        ...(esm
          ? { external: [/^preact(\/|$)/, /^react(\/|$)/, /^react-dom(\/|$)/] }
          : panel
            ? { output: { entryFileNames: 'agent-sdk-panel.[hash].js' } }
            : // The first statement the script runs: the benchmark measures from this mark to the launcher's.
              { output: { banner: 'performance.mark("mcpstack:script-start");' } }),
      },
    },
  };
});
