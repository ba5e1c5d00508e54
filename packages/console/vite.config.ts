import { defineConfig } from 'vite';

/**
 * The console is an app, not a library: `index.html` is the entry, served by the service at
 * `/console/` (services/chat/src/http/console-assets.ts), so every asset URL starts there.
 * No inline script or style is emitted (the page runs under `script-src 'self'; style-src 'self'`).
 */
export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    reportCompressedSize: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
});
