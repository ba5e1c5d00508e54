import { createServer, type Server } from 'node:http';
import { listen } from '@mcpstack/test-support/http-server';

export interface TestPage {
  body: string;
  headers?: Record<string, string>;
  type?: string;
}

export interface PageServer {
  /** `http://127.0.0.1:<port>`: the origin the pages run in. */
  origin: string;
  /** Serves `page` at `path` from now on. */
  set(path: string, page: TestPage): void;
  stop(): Promise<void>;
}

/** Records the page's CSP violations (a same-origin script, so a strict CSP allows it). */
const watchScript = `window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__violations.push(event.violatedDirective + ' ' + event.blockedURI + ' ' + (event.sample || ''));
});`;

/** The websites of the tests: a node:http server on 127.0.0.1 serving the pages a test sets. */
export async function startPageServer(): Promise<PageServer> {
  const pages = new Map<string, TestPage>([
    ['/watch.js', { body: watchScript, type: 'text/javascript' }],
    ['/favicon.ico', { body: '', type: 'image/x-icon' }],
  ]);
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const page = pages.get(path);
    if (!page) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    response.writeHead(200, {
      'content-type': page.type ?? 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      ...page.headers,
    });
    response.end(page.body);
  });
  const listening = await listen(server);
  return {
    origin: listening.origin,
    set: (path, page) => void pages.set(path, page),
    stop: listening.close,
  };
}

/** A shop page embedding the widget with one script tag. */
export function shopPage(options: {
  scriptUrl: string;
  publicKey: string;
  attributes?: Record<string, string>;
  head?: string;
  body?: string;
  /** The script tag's `nonce` (for a page whose CSP allows scripts by nonce). */
  nonce?: string;
}): string {
  const attributes = Object.entries(options.attributes ?? {})
    .map(([name, value]) => ` data-${name}="${value}"`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test shop</title>
${options.head ?? ''}
</head>
<body>
<header><h1>Test shop</h1><button id="page-button" type="button">Page button</button></header>
<main><p>Espresso beans and kettles.</p></main>
${options.body ?? ''}
<script src="${options.scriptUrl}" data-public-key="${options.publicKey}"${attributes}${options.nonce ? ` nonce="${options.nonce}"` : ''} async></script>
</body>
</html>`;
}
