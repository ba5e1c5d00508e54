import { defineConfig } from 'dpdm';

/**
 * `npm run lint` fails on an import cycle between source files: a module of a cycle can run while
 * another is still half-initialized. `transform` drops type-only imports first, as TypeScript erases
 * them: `Deps` names the types of the objects it carries while every domain module names `Deps`, a
 * cycle of types only that never runs.
 *
 * `npm run lint:cycles` then holds the rest to more, running dpdm again with `--transform=false` so
 * a cycle of type-only imports fails too: over each `packages/<name>/src` (two files that name each
 * other's types are one concept split in two; the widget's launcher and panel name theirs from
 * `widget/panel-contract.ts` for that reason), and over the service less the edges out of `deps.ts`
 * (a record type in the wrong module: `LlmCallFilter` once lived in the history store, which imports
 * the call record).
 *
 * dpdm rather than madge or dependency-cruiser: those parse TypeScript with the project's own
 * `typescript` package, and TypeScript 7 has no JavaScript compiler API; dpdm brings its own.
 */
export default defineConfig({
  files: ['services/chat/src/**/*.ts', 'packages/*/src/**/*.{ts,tsx}'],
  transform: true,
  exitCode: 'circular:1',
  tree: false,
  // Unresolved `?inline` CSS and skipped node_modules: noise, not cycles.
  warning: false,
  progress: false,
});
