/**
 * The widget's own `<script>` tag (read while the script first runs: `document.currentScript` is
 * `null` later), or the first tag that looks like it.
 */
export const scriptTag: HTMLScriptElement | null =
  (document.currentScript as HTMLScriptElement | null) ??
  document.querySelector<HTMLScriptElement>('script[data-public-key][src*="agent-sdk"]');
