import type { PanelModule } from './panel-contract.ts';

/**
 * Loads the panel for the package's ESM build: a dynamic import, which the application's bundler
 * splits into a chunk of its own. The script tag's build uses load-panel.script.ts instead.
 */
export const loadPanel = (_nonce?: string): Promise<PanelModule> => import('./panel.ts');
