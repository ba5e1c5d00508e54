/**
 * The script tag's entry (`dist/agent-sdk.iife.js`, the launcher: ≤ 5 KB gzip): installs
 * `window.McpStack`, replays the calls queued before the script loaded, and mounts the widget from
 * the tag's `data-*` attributes. The panel is a second file it loads later (load-panel.script.ts).
 */
import { McpStack, type McpStackApi } from './api.ts';
import { scriptTag } from './widget/script-tag.ts';
import type { WidgetOptions } from './widget/widget.ts';

type Method = Exclude<keyof McpStackApi, 'version'>;

/** `window.McpStack`: callable, `McpStack('open')` (the queue stub's form), and an object, `McpStack.open()`. */
export type McpStackGlobal = McpStackApi & {
  (method: Method, ...args: unknown[]): unknown;
  /** Calls made before the script loaded (filled by the stub snippet, drained here). */
  q?: ArrayLike<unknown>[];
};

declare global {
  interface Window {
    McpStack?: McpStackGlobal;
  }
}

/**
 * The widget options a tag's `data-*` attributes give (`data-public-key`, `data-api-base`,
 * `data-position`, `data-color-scheme`, `data-primary-color`, `data-font`, `data-target`,
 * `data-nonce` and `data-open`). Values are checked by the widget as any option is.
 */
function optionsFromScript(script: HTMLScriptElement | null): Partial<WidgetOptions> & { autoInit?: string } {
  const { open, ...data } = script?.dataset ?? {};
  const options: Partial<WidgetOptions> & { autoInit?: string } = { ...data };
  // The service serves this script, so by default it is also the API's origin.
  if (script?.src) options.apiBase ??= new URL(script.src, location.href).origin;
  if (open !== undefined) options.open = open !== 'false';
  // A page whose CSP asks for a nonce gave this tag one: the panel's script carries it too.
  if (script?.nonce) options.nonce ??= script.nonce;
  return options;
}

const { autoInit, ...fromScript } = optionsFromScript(scriptTag);
const queued = Array.from(window.McpStack?.q ?? []);

function call(method: unknown, args: unknown[]): unknown {
  if (method === 'init') return McpStack.init({ ...fromScript, ...(args[0] as WidgetOptions) });
  const target = McpStack[method as Method] as ((...values: unknown[]) => unknown) | undefined;
  if (typeof target !== 'function') {
    console.warn(`McpStack: unknown method ${String(method)}`);
    return undefined;
  }
  return target(...args);
}

const global = Object.assign((method: Method, ...args: unknown[]) => call(method, args), McpStack, {
  init: (options: WidgetOptions) => call('init', [options]),
}) as McpStackGlobal;
window.McpStack = global;

const initQueued = queued.some((entry) => entry[0] === 'init');
if (autoInit !== 'false' && !initQueued && fromScript.publicKey) McpStack.init(fromScript as WidgetOptions);
for (const entry of queued) {
  const [method, ...args] = Array.from(entry);
  call(method, args);
}
