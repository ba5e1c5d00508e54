import { ensureWidgetBuilt } from '../scripts/ensure-built.ts';

/** The size test reads dist/: build it when missing or stale. */
export function setup(): void {
  ensureWidgetBuilt();
}
