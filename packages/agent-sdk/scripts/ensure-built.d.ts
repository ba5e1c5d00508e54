/**
 * Builds the widget when `dist/` is missing or older than its sources, so `npm test` passes on a
 * fresh clone (CI builds before testing; then this does nothing). Several vitest projects call it
 * at once, so a lock directory lets one build while the others wait.
 */
export declare function ensureWidgetBuilt(): void;
