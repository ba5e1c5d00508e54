import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import express, { type Request, type Response, type Router } from 'express';
import { ApiError } from '../errors.ts';

const widgetPackage = new URL('../../../../packages/agent-sdk/', import.meta.url);
const files = {
  script: new URL('dist/agent-sdk.iife.js', widgetPackage),
  sourceMap: new URL('dist/agent-sdk.iife.js.map', widgetPackage),
};

/** The version in the widget's package.json: the versioned URL serves only the build of that version. */
function widgetVersion(): string {
  const { version } = JSON.parse(readFileSync(new URL('package.json', widgetPackage), 'utf8')) as {
    version: string;
  };
  return version;
}

/** The panel file, `agent-sdk-panel.<content hash>.js` (Rolldown's hash, base64url), and its map. */
const panelScript = /^\/(agent-sdk-panel\.[A-Za-z0-9_-]{6,32}\.js)$/;
const panelSourceMap = /^\/(agent-sdk-panel\.[A-Za-z0-9_-]{6,32}\.js\.map)$/;

/**
 * The widget's script tag files, built by `npm run build` into packages/agent-sdk/dist, served as
 * public scripts: any site may load them (`Access-Control-Allow-Origin: *`, CORP cross-origin).
 * - `/agent-sdk.js`, the launcher, follows releases, so it is cached for five minutes;
 *   `/agent-sdk@<version>.js` never changes, so it is cached for a year.
 * - `/agent-sdk-panel.<hash>.js`, the panel the launcher loads by that name: the name changes
 *   with the content, so it is cached for a year (`immutable`). Only names the build made are
 *   served (the name is checked, then looked up in dist/).
 * The API's `default-src 'none'` CSP and `no-store` are replaced here: they are meant for JSON
 * answers, not for a script.
 */
export function widgetAssetRouter(): Router {
  const router = express.Router();
  const version = widgetVersion();
  const cache = new Map<string, { mtimeMs: number; body: Buffer }>();

  /** The file, re-read only when a rebuild changed it; `null` when there is none (never built, or an old panel). */
  async function load(file: URL): Promise<Buffer | null> {
    try {
      const { mtimeMs } = await stat(file);
      let entry = cache.get(file.href);
      if (entry?.mtimeMs !== mtimeMs) {
        entry = { mtimeMs, body: await readFile(file) };
        cache.set(file.href, entry);
      }
      return entry.body;
    } catch {
      return null;
    }
  }

  const serve =
    (file: URL | ((request: Request) => URL), type: string, cacheControl: string) =>
    async (request: Request, response: Response, next: (error?: unknown) => void) => {
      response.setHeader('Access-Control-Allow-Origin', '*');
      response.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
      const path = typeof file === 'function' ? file(request) : file;
      const body = await load(path);
      if (!body) {
        next(
          new ApiError(
            'not_found',
            'No such widget file on this server (is the widget built? `npm run build`)',
          ),
        );
        return;
      }
      response.removeHeader('Content-Security-Policy');
      response.setHeader('Cache-Control', cacheControl);
      response.type(type).send(body);
    };

  router.get('/agent-sdk.js', serve(files.script, 'text/javascript', 'public, max-age=300'));
  router.get(
    `/agent-sdk@${version}.js`,
    serve(files.script, 'text/javascript', 'public, max-age=31536000, immutable'),
  );
  router.get('/agent-sdk.iife.js.map', serve(files.sourceMap, 'application/json', 'public, max-age=300'));
  // The name is checked by the route's pattern (no `/`, no `..`), so the file is always in dist/.
  const inDist = (request: Request) => new URL(`dist/${request.params[0]}`, widgetPackage);
  router.get(panelScript, serve(inDist, 'text/javascript', 'public, max-age=31536000, immutable'));
  router.get(panelSourceMap, serve(inDist, 'application/json', 'public, max-age=31536000, immutable'));
  return router;
}
