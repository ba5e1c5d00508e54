/**
 * The panel file of the script tag (`dist/agent-sdk-panel.<hash>.js`): its IIFE assigns these
 * exports to `window.McpStackPanel`, where the launcher's loader picks them up.
 */
export { mountPanel } from './widget/panel.ts';
