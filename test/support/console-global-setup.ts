import { ensureConsoleBuilt } from '../../packages/console/scripts/ensure-built.ts';

/** The service serves packages/console/dist at /console/: build it when missing or stale. */
export function setup(): void {
  ensureConsoleBuilt();
}
