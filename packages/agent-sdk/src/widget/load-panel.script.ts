import type { PanelModule } from './panel-contract.ts';
import { scriptTag } from './script-tag.ts';

/** The panel file's name, with its content hash (vite.config.ts reads it from the panel's build). */
declare const __PANEL_FILE__: string;

declare global {
  interface Window {
    /** The panel file's exports: its IIFE assigns them to this global. */
    McpStackPanel?: PanelModule;
  }
}

/**
 * Loads the panel for the script tag's build: `agent-sdk-panel.<hash>.js`, next to this script
 * (same origin, same path), as a classic script carrying the page's nonce, so a CSP that allows
 * the script tag (by host or by nonce) allows the panel too. The hashed name never changes
 * content, so the service caches it for a year.
 */
export function loadPanel(nonce?: string): Promise<PanelModule> {
  return new Promise((resolve, reject) => {
    if (window.McpStackPanel) return resolve(window.McpStackPanel);
    const script = document.createElement('script');
    script.src = new URL(__PANEL_FILE__, scriptTag?.src || location.href).href;
    if (nonce) script.nonce = nonce;
    script.onload = () => (window.McpStackPanel ? resolve(window.McpStackPanel) : reject(script.src));
    script.onerror = () => {
      script.remove();
      reject(script.src);
    };
    performance.mark('mcpstack:panel-requested');
    document.head.append(script);
  });
}
