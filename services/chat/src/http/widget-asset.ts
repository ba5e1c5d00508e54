import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import express, { type Response, type Router } from 'express';
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

/**
 * The widget's script tag bundle, built by `npm run build` into packages/agent-sdk/dist, served as
 * a public script: any site may load it (`Access-Control-Allow-Origin: *`, CORP cross-origin).
 * `/agent-sdk@<version>.js` never changes, so it is cached for a year; `/agent-sdk.js` follows
 * releases, so it is cached for five minutes. The API's `default-src 'none'` CSP and `no-store`
 * are replaced here: they are meant for JSON answers, not for a script.
 */
export function widgetAssetRouter(): Router {
  const router = express.Router();
  const version = widgetVersion();
  const cache = new Map<URL, { mtimeMs: number; body: Buffer }>();

  /** The file, re-read only when a rebuild changed it; `null` when it was never built. */
  async function load(file: URL): Promise<Buffer | null> {
    try {
      const { mtimeMs } = await stat(file);
      let entry = cache.get(file);
      if (entry?.mtimeMs !== mtimeMs) {
        entry = { mtimeMs, body: await readFile(file) };
        cache.set(file, entry);
      }
      return entry.body;
    } catch {
      return null;
    }
  }

  const serve =
    (file: URL, type: string, cacheControl: string) =>
    async (_request: unknown, response: Response, next: (error?: unknown) => void) => {
      response.setHeader('Access-Control-Allow-Origin', '*');
      response.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
      const body = await load(file);
      if (!body) {
        next(new ApiError('not_found', 'The widget is not built on this server: run `npm run build` first'));
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
  return router;
}
