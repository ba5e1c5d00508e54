import { ensureWidgetBuilt } from '../../packages/agent-sdk/scripts/ensure-built.ts';

/** The service serves packages/agent-sdk/dist: build it when missing or stale (a fresh clone). */
export function setup(): void {
  ensureWidgetBuilt();
}
