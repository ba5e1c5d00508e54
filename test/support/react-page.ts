import { fileURLToPath } from 'node:url';
import { build, type Rolldown } from 'vite';

/**
 * Builds test/support/react-app.js with Vite, as a React app's own build would use the package
 * (its `./react` export, React from the app). Returns the output files by name, to be served
 * under one path (the chunks import each other relatively).
 */
export async function buildReactApp(): Promise<Map<string, string>> {
  const result = await build({
    configFile: false,
    logLevel: 'warn',
    root: fileURLToPath(new URL('.', import.meta.url)),
    define: { 'process.env.NODE_ENV': JSON.stringify('production') },
    build: {
      write: false,
      minify: false,
      target: 'es2022',
      rolldownOptions: {
        input: { app: fileURLToPath(new URL('./react-app.js', import.meta.url)) },
        output: { format: 'es', entryFileNames: '[name].js' },
      },
    },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[];
  const files = new Map<string, string>();
  for (const { output } of outputs) {
    for (const file of output) {
      if (file.type === 'chunk') files.set(file.fileName, file.code);
    }
  }
  return files;
}
