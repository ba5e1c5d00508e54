import { readFile, stat } from 'node:fs/promises';
import { extname, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response, type Router } from 'express';

const distDirectory = fileURLToPath(new URL('../../../../packages/console/dist/', import.meta.url));

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
  '.json': 'application/json',
};

/**
 * The console's CSP: only this origin's scripts, styles and API; no inline script, no eval, no
 * frames, forms only back to itself. uPlot and Preact set styles through the CSSOM, which
 * `style-src 'self'` allows (only inline `<style>` and `style="…"` markup would need more).
 */
export const consoleContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Serves `packages/console/dist` (built by `npm run build`) at `/console/`. Hashed assets are
 * cached for a year; every other path under `/console/` answers index.html, so a reload on any
 * page of the single-page app works.
 */
export function consoleAssetRouter(): Router {
  const router = express.Router({ strict: true });
  const cache = new Map<string, { mtimeMs: number; body: Buffer }>();

  async function load(path: string): Promise<Buffer | null> {
    try {
      const { mtimeMs, isFile } = await stat(path).then((found) => ({
        mtimeMs: found.mtimeMs,
        isFile: found.isFile(),
      }));
      if (!isFile) return null;
      let entry = cache.get(path);
      if (entry?.mtimeMs !== mtimeMs) {
        entry = { mtimeMs, body: await readFile(path) };
        cache.set(path, entry);
      }
      return entry.body;
    } catch {
      return null;
    }
  }

  router.get('/console', (_request: Request, response: Response) => {
    response.redirect(301, '/console/');
  });
  // A plain prefix check rather than a route pattern: Express would decode a pattern's captures
  // itself and answer a malformed escape with a 500 before this code could answer 404.
  router.use(async (request: Request, response: Response, next: () => void) => {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || !request.path.startsWith('/console/')) {
      next();
      return;
    }
    let relative: string;
    try {
      relative = normalize(decodeURIComponent(request.path.slice('/console/'.length)));
    } catch {
      response.status(404).type('text/plain').send('Not found');
      return;
    }
    const wantsAsset = relative.startsWith(`assets${sep}`) && !relative.includes('..');
    const file = wantsAsset ? `${distDirectory}${relative}` : `${distDirectory}index.html`;
    const body = await load(file);
    response.setHeader('Content-Security-Policy', consoleContentSecurityPolicy);
    response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    if (!body) {
      response
        .status(wantsAsset ? 404 : 503)
        .type('text/plain')
        .send(
          wantsAsset ? 'Not found' : 'The console is not built on this server: run `npm run build` first',
        );
      return;
    }
    response.setHeader('Cache-Control', wantsAsset ? 'public, max-age=31536000, immutable' : 'no-cache');
    response.type(types[extname(file)] ?? 'application/octet-stream').send(body);
  });
  return router;
}
